package registry

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/schemaflow/schemaflow/internal/retry"
)

// ClientOptions configure a Client. The zero value is usable.
type ClientOptions struct {
	// Username and Password enable HTTP basic auth.
	Username, Password string
	// BearerToken enables bearer auth.
	BearerToken string
	// TLS configures https URLs. Default: the system roots.
	TLS *tls.Config
	// Timeout bounds each attempt. Default 30s.
	Timeout time.Duration
	// Retries is how many times a network error or a 5xx answer is retried,
	// with jittered exponential backoff from 100ms (internal/retry).
	// Default 3; -1 disables retries.
	Retries int
	// CacheBytes bounds the schemas by id the client keeps (their text,
	// references, metadata and rule set, plus a fixed overhead each); the
	// least recently used go first. A schema larger than the bound is not
	// kept. Default DefaultCacheBytes; -1 disables the cache.
	CacheBytes int64
}

// DefaultCacheBytes is the CacheBytes used when none is given: room for
// thousands of typical schemas.
const DefaultCacheBytes = 32 << 20

// Client calls a Confluent-compatible registry. Schemas by id are cached,
// since an id never changes, within ClientOptions.CacheBytes; nothing else
// is cached. It is safe for concurrent use.
type Client struct {
	base string
	opts ClientOptions
	http *http.Client

	retry retry.Policy

	cache *idCache
}

// NewClient returns a client for the registry at baseURL.
func NewClient(baseURL string, opts ClientOptions) (*Client, error) {
	u, err := url.Parse(baseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("registry: %q is not an http(s) URL", baseURL)
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 30 * time.Second
	}
	if opts.Retries == 0 {
		opts.Retries = 3
	}
	if opts.CacheBytes == 0 {
		opts.CacheBytes = DefaultCacheBytes
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if opts.TLS != nil {
		tr.TLSClientConfig = opts.TLS
	}
	policy := retry.Policy{Initial: 100 * time.Millisecond, Retries: max(opts.Retries, 0)}
	return &Client{base: strings.TrimRight(baseURL, "/"), opts: opts, http: &http.Client{Transport: tr, Timeout: opts.Timeout}, retry: policy, cache: newIDCache(opts.CacheBytes)}, nil
}

// do sends a request and decodes a JSON answer into out (unless nil).
func (c *Client) do(ctx context.Context, method, path string, body, out any) error {
	var payload []byte
	if body != nil {
		var err error
		if payload, err = json.Marshal(body); err != nil {
			return err
		}
	}
	return c.retry.Do(ctx, func(ctx context.Context) error {
		err := c.once(ctx, method, path, payload, out)
		var apiErr *Error
		if errors.As(err, &apiErr) && apiErr.Status < 500 {
			return retry.Permanent(err) // the registry's answer: retrying cannot change it
		}
		return err
	}, nil)
}

func (c *Client) once(ctx context.Context, method, path string, payload []byte, out any) error {
	var body io.Reader
	if payload != nil {
		body = bytes.NewReader(payload)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/vnd.schemaregistry.v1+json, application/json")
	if payload != nil {
		req.Header.Set("Content-Type", "application/vnd.schemaregistry.v1+json")
	}
	switch {
	case c.opts.BearerToken != "":
		req.Header.Set("Authorization", "Bearer "+c.opts.BearerToken)
	case c.opts.Username != "":
		req.SetBasicAuth(c.opts.Username, c.opts.Password)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("registry: %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("registry: %s %s: %w", method, path, err)
	}
	if resp.StatusCode >= 300 {
		e := &Error{Status: resp.StatusCode}
		if json.Unmarshal(raw, e) != nil || e.Message == "" {
			e.Code, e.Message = resp.StatusCode, strings.TrimSpace(string(raw))
			if e.Message == "" {
				e.Message = resp.Status
			}
		}
		return e
	}
	if out == nil {
		return nil
	}
	if s, ok := out.(*string); ok {
		*s = string(raw)
		return nil
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return fmt.Errorf("registry: %s %s: bad answer: %w", method, path, err)
	}
	return nil
}

func esc(s string) string { return url.PathEscape(s) }

func versionString(v int) string {
	if v <= 0 {
		return "latest"
	}
	return strconv.Itoa(v)
}

// Subjects lists the subjects, with soft-deleted ones when deleted is set.
func (c *Client) Subjects(ctx context.Context, deleted bool) ([]string, error) {
	var out []string
	return out, c.do(ctx, "GET", "/subjects?deleted="+strconv.FormatBool(deleted), nil, &out)
}

// Versions lists a subject's versions.
func (c *Client) Versions(ctx context.Context, subject string, deleted bool) ([]int, error) {
	var out []int
	return out, c.do(ctx, "GET", "/subjects/"+esc(subject)+"/versions?deleted="+strconv.FormatBool(deleted), nil, &out)
}

// Version returns a version of a subject; 0 or -1 means the latest.
func (c *Client) Version(ctx context.Context, subject string, version int, deleted bool) (Schema, error) {
	var out Schema
	err := c.do(ctx, "GET", "/subjects/"+esc(subject)+"/versions/"+versionString(version)+"?deleted="+strconv.FormatBool(deleted), nil, &out)
	if out.SchemaType == "" {
		out.SchemaType = TypeAvro
	}
	return out, err
}

// SchemaByID returns the schema with the given id, from the cache when it
// has been fetched before.
func (c *Client) SchemaByID(ctx context.Context, id int) (SchemaString, error) {
	if s, ok := c.cache.get(id); ok {
		return s, nil
	}
	var s SchemaString
	if err := c.do(ctx, "GET", "/schemas/ids/"+strconv.Itoa(id), nil, &s); err != nil {
		return s, err
	}
	if s.SchemaType == "" {
		s.SchemaType = TypeAvro
	}
	c.cache.put(id, s)
	return s, nil
}

// Register registers a schema under a subject and returns its id.
func (c *Client) Register(ctx context.Context, subject string, req RegisterRequest, normalize bool) (int, error) {
	var out RegisterResponse
	err := c.do(ctx, "POST", "/subjects/"+esc(subject)+"/versions?normalize="+strconv.FormatBool(normalize), req, &out)
	return out.ID, err
}

// Lookup finds the version of a subject holding a schema.
func (c *Client) Lookup(ctx context.Context, subject string, req RegisterRequest) (Schema, error) {
	var out Schema
	return out, c.do(ctx, "POST", "/subjects/"+esc(subject), req, &out)
}

// DeleteSubject deletes a subject, softly or (after a soft delete) for good.
func (c *Client) DeleteSubject(ctx context.Context, subject string, permanent bool) ([]int, error) {
	var out []int
	return out, c.do(ctx, "DELETE", "/subjects/"+esc(subject)+"?permanent="+strconv.FormatBool(permanent), nil, &out)
}

// DeleteVersion deletes one version of a subject.
func (c *Client) DeleteVersion(ctx context.Context, subject string, version int, permanent bool) (int, error) {
	var out int
	return out, c.do(ctx, "DELETE", "/subjects/"+esc(subject)+"/versions/"+versionString(version)+"?permanent="+strconv.FormatBool(permanent), nil, &out)
}

// CheckCompatibility tests a schema against a subject's versions (version
// 0) or one version, with the registry's verbose messages.
func (c *Client) CheckCompatibility(ctx context.Context, subject string, version int, req RegisterRequest) (CompatibilityResponse, error) {
	path := "/compatibility/subjects/" + esc(subject) + "/versions"
	if version != 0 {
		path += "/" + versionString(version)
	}
	var out CompatibilityResponse
	return out, c.do(ctx, "POST", path+"?verbose=true", req, &out)
}

func configPath(kind, subject string) string {
	if subject == "" {
		return "/" + kind
	}
	return "/" + kind + "/" + esc(subject)
}

// Config returns the compatibility level of a subject ("" for the global
// one), falling back to the global level when defaultToGlobal is set.
func (c *Client) Config(ctx context.Context, subject string, defaultToGlobal bool) (Config, error) {
	var out Config
	return out, c.do(ctx, "GET", configPath("config", subject)+"?defaultToGlobal="+strconv.FormatBool(defaultToGlobal), nil, &out)
}

// SetConfig sets the compatibility level of a subject ("" for global).
func (c *Client) SetConfig(ctx context.Context, subject, level string) error {
	return c.do(ctx, "PUT", configPath("config", subject), ConfigUpdate{Compatibility: level}, nil)
}

// UpdateConfig changes a subject's config ("" for the global one): the
// fields u sets, the others kept, as PUT /config does.
func (c *Client) UpdateConfig(ctx context.Context, subject string, u ConfigUpdate) error {
	return c.do(ctx, "PUT", configPath("config", subject), u, nil)
}

// Mode returns the mode of a subject ("" for the global one).
func (c *Client) Mode(ctx context.Context, subject string, defaultToGlobal bool) (string, error) {
	var out Mode
	err := c.do(ctx, "GET", configPath("mode", subject)+"?defaultToGlobal="+strconv.FormatBool(defaultToGlobal), nil, &out)
	return out.Mode, err
}

// SetMode sets the mode of a subject ("" for global); force allows IMPORT
// while subjects exist.
func (c *Client) SetMode(ctx context.Context, subject, mode string, force bool) error {
	return c.do(ctx, "PUT", configPath("mode", subject)+"?force="+strconv.FormatBool(force), Mode{Mode: mode}, nil)
}
