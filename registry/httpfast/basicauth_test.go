package httpfast

import (
	"net/http"
	"testing"
)

// basicAuth reads an Authorization value as net/http's Request.BasicAuth
// does, which RequireAuth uses: the same user, password and verdict.
func checkBasicAuth(t *testing.T, value string) {
	t.Helper()
	r := &http.Request{Header: http.Header{"Authorization": {value}}}
	wantUser, wantPass, wantOK := r.BasicAuth()
	user, pass, ok := basicAuth([]byte(value))
	if user != wantUser || pass != wantPass || ok != wantOK {
		t.Errorf("basicAuth(%q) = %q, %q, %v; net/http: %q, %q, %v", value, user, pass, ok, wantUser, wantPass, wantOK)
	}
}

func TestBasicAuth(t *testing.T) {
	for _, v := range []string{
		"Basic YWxpY2U6czNjcmV0",     // alice:s3cret
		"basic YWxpY2U6czNjcmV0",     // the scheme in any case
		"BASIC YWxpY2U6czNjcmV0",     //
		"Basic YWxpY2U6czM6Y3JldA==", // alice:s3:cret: the first colon splits
		"Basic YWxpY2U=",             // alice: no colon
		"Basic Og==",                 // ":" empty user and password
		"Basic !!!",                  // not base64
		"Basic  YWxpY2U6czNjcmV0",    // two spaces
		"Bearer YWxpY2U6czNjcmV0",
		"Basic",
		"",
	} {
		checkBasicAuth(t, v)
	}
}

func FuzzBasicAuth(f *testing.F) {
	for _, seed := range []string{"Basic YWxpY2U6czNjcmV0", "basic Og==", "Basic !!!", "Basic", ""} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, value string) {
		checkBasicAuth(t, value)
	})
}
