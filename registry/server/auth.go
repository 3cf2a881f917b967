package server

import (
	"bufio"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"

	"golang.org/x/crypto/bcrypt"

	"github.com/schemaflow/schemaflow/registry"
)

// Users holds the accounts basic auth accepts: bcrypt hashes by user name,
// as `htpasswd -B` writes them.
type Users struct {
	hashes map[string][]byte
	// verified caches a digest of each password bcrypt accepted, because
	// bcrypt is slow by design and a registry answers many small requests.
	mu       sync.RWMutex
	verified map[string][32]byte
}

// ParseUsers reads "user:bcrypt-hash" lines; blank lines and lines starting
// with # are skipped. Errors name the line.
func ParseUsers(name string, r io.Reader) (*Users, error) {
	u := &Users{hashes: map[string][]byte{}, verified: map[string][32]byte{}}
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		user, hash, ok := strings.Cut(line, ":")
		if !ok || user == "" {
			return nil, fmt.Errorf("%s:%d: want user:bcrypt-hash", name, n)
		}
		if _, err := bcrypt.Cost([]byte(hash)); err != nil {
			return nil, fmt.Errorf("%s:%d: user %q: not a bcrypt hash (make one with htpasswd -nB %s)", name, n, user, user)
		}
		u.hashes[user] = []byte(hash)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if len(u.hashes) == 0 {
		return nil, fmt.Errorf("%s: no users", name)
	}
	return u, nil
}

func (u *Users) check(user, password string) bool {
	hash, ok := u.hashes[user]
	if !ok {
		return false
	}
	digest := sha256.Sum256([]byte(password))
	u.mu.RLock()
	known, seen := u.verified[user]
	u.mu.RUnlock()
	if seen {
		return subtle.ConstantTimeCompare(known[:], digest[:]) == 1
	}
	if bcrypt.CompareHashAndPassword(hash, []byte(password)) != nil {
		return false
	}
	u.mu.Lock()
	u.verified[user] = digest
	u.mu.Unlock()
	return true
}

// Verify reports whether user exists and password is theirs, as
// RequireAuth checks them: bcrypt on first use, then a cached digest of
// the accepted password.
func (u *Users) Verify(user, password string) bool { return u.check(user, password) }

// RequireAuth wraps h so that every request needs a known user.
func RequireAuth(users *Users, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user, password, ok := r.BasicAuth()
		if !ok || !users.check(user, password) {
			w.Header().Set("WWW-Authenticate", `Basic realm="schemaflow registry"`)
			writeError(w, &registry.Error{Status: http.StatusUnauthorized, Code: 40101, Message: "Unauthorized"})
			return
		}
		h.ServeHTTP(w, r)
	})
}
