package metrics

import (
	"bytes"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sync"

	"go.yaml.in/yaml/v3"
	"golang.org/x/crypto/bcrypt"
)

// WebConfig is what memrelief takes of node_exporter's web configuration
// file (the Prometheus exporter toolkit's --web.config.file format): TLS
// with a certificate and key from files, optionally verified client
// certificates, and basic authentication with bcrypt hashes. A file written
// for node_exporter with only these keys works unchanged; any other key is
// refused by name, not ignored. (The toolkit itself would add 3 MB to the
// binary and 1.6 MiB to the daemon's RSS on every host, listener or not.)
type WebConfig struct {
	// Path is the file it was read from; relative paths in it are taken
	// from its directory, as the toolkit does.
	Path string
	TLS  *WebTLS `yaml:"tls_server_config"`
	// Users maps user names to bcrypt hashes of their passwords.
	Users map[string]string `yaml:"basic_auth_users"`
}

// WebTLS is tls_server_config.
type WebTLS struct {
	CertFile       string `yaml:"cert_file"`
	KeyFile        string `yaml:"key_file"`
	ClientCAFile   string `yaml:"client_ca_file"`
	ClientAuthType string `yaml:"client_auth_type"`
	MinVersion     string `yaml:"min_version"`
	MaxVersion     string `yaml:"max_version"`
}

// The toolkit's names of client_auth_type and of TLS versions.
var (
	clientAuthTypes = map[string]tls.ClientAuthType{
		"":                           tls.NoClientCert,
		"NoClientCert":               tls.NoClientCert,
		"RequestClientCert":          tls.RequestClientCert,
		"RequireAnyClientCert":       tls.RequireAnyClientCert,
		"VerifyClientCertIfGiven":    tls.VerifyClientCertIfGiven,
		"RequireAndVerifyClientCert": tls.RequireAndVerifyClientCert,
	}
	tlsVersions = map[string]uint16{"TLS10": tls.VersionTLS10, "TLS11": tls.VersionTLS11, "TLS12": tls.VersionTLS12, "TLS13": tls.VersionTLS13}
)

// maxWebConfigBytes bounds the file: a few certificates' paths and users.
const maxWebConfigBytes = 1 << 20

// LoadWebConfig reads and checks path: its keys, the certificate and key
// (loaded here so a bad pair fails at start, not at the first scrape), the
// client CA, and every password hash. Errors name the file. Users are
// fixed from then on; the certificate, key and CA files are read again at
// each TLS handshake.
func LoadWebConfig(path string) (*WebConfig, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxWebConfigBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if len(data) > maxWebConfigBytes {
		return nil, fmt.Errorf("%s: larger than %d bytes; a web configuration names a few files and users", path, maxWebConfigBytes)
	}
	c := &WebConfig{Path: path}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(c); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%s: %w (memrelief takes tls_server_config: cert_file, key_file, client_ca_file, client_auth_type, min_version, max_version; and basic_auth_users)", path, err)
	}
	if err := c.check(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

// Protected reports whether the configuration puts TLS or authentication
// in front of the page: only then may it listen beyond this host.
func (c *WebConfig) Protected() bool { return c != nil && (c.TLS != nil || len(c.Users) > 0) }

func (c *WebConfig) check() error {
	for _, u := range slices.Sorted(maps.Keys(c.Users)) {
		if _, err := bcrypt.Cost([]byte(c.Users[u])); err != nil {
			return fmt.Errorf("basic_auth_users: %s: not a bcrypt hash (make one with htpasswd -nBC 10 %s): %w", u, u, err)
		}
	}
	if c.TLS == nil {
		return nil
	}
	t := c.TLS
	if t.CertFile == "" || t.KeyFile == "" {
		return errors.New("tls_server_config: cert_file and key_file are both needed")
	}
	auth, ok := clientAuthTypes[t.ClientAuthType]
	if !ok {
		return fmt.Errorf("tls_server_config: client_auth_type %q: want one of NoClientCert, RequestClientCert, RequireAnyClientCert, VerifyClientCertIfGiven, RequireAndVerifyClientCert", t.ClientAuthType)
	}
	if (auth == tls.VerifyClientCertIfGiven || auth == tls.RequireAndVerifyClientCert) && t.ClientCAFile == "" {
		return fmt.Errorf("tls_server_config: client_auth_type %s verifies client certificates and needs client_ca_file", t.ClientAuthType)
	}
	if t.ClientCAFile != "" && auth == tls.NoClientCert {
		return errors.New("tls_server_config: client_ca_file is set but client_auth_type asks for no client certificate (want RequireAndVerifyClientCert)")
	}
	for _, v := range []struct{ key, value string }{{"min_version", t.MinVersion}, {"max_version", t.MaxVersion}} {
		if _, ok := tlsVersions[v.value]; v.value != "" && !ok {
			return fmt.Errorf("tls_server_config: %s %q: want TLS10, TLS11, TLS12 or TLS13", v.key, v.value)
		}
	}
	_, err := c.tlsConfig()
	return err
}

func (c *WebConfig) file(p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(filepath.Dir(c.Path), p)
}

// tlsConfig loads the certificate, key and client CA from their files.
func (c *WebConfig) tlsConfig() (*tls.Config, error) {
	t := c.TLS
	cert, err := tls.LoadX509KeyPair(c.file(t.CertFile), c.file(t.KeyFile))
	if err != nil {
		return nil, fmt.Errorf("tls_server_config: certificate and key: %w", err)
	}
	cfg := &tls.Config{
		Certificates: []tls.Certificate{cert},
		ClientAuth:   clientAuthTypes[t.ClientAuthType],
		MinVersion:   tls.VersionTLS12, // the toolkit's default
		MaxVersion:   tls.VersionTLS13,
	}
	if v, ok := tlsVersions[t.MinVersion]; ok {
		cfg.MinVersion = v
	}
	if v, ok := tlsVersions[t.MaxVersion]; ok {
		cfg.MaxVersion = v
	}
	if t.ClientCAFile != "" {
		pem, err := os.ReadFile(c.file(t.ClientCAFile))
		if err != nil {
			return nil, fmt.Errorf("tls_server_config: client_ca_file: %w", err)
		}
		cfg.ClientCAs = x509.NewCertPool()
		if !cfg.ClientCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("tls_server_config: client_ca_file %s holds no PEM certificate", c.file(t.ClientCAFile))
		}
	}
	return cfg, nil
}

// serverTLS is the listener's TLS configuration: the files are read again
// at each handshake, as node_exporter does, so a renewed certificate (a
// cert-manager Secret, say) is served without a restart; a handshake
// while they are broken fails, and the daemon goes on.
func (c *WebConfig) serverTLS() (*tls.Config, error) {
	cfg, err := c.tlsConfig()
	if err != nil {
		return nil, err
	}
	cfg.GetConfigForClient = func(*tls.ClientHelloInfo) (*tls.Config, error) { return c.tlsConfig() }
	return cfg, nil
}

// authHandler asks for basic authentication when users are configured.
// bcrypt is slow by design, so passwords that matched are remembered (by
// a hash, at most maxAuthCache of them); wrong ones are checked every time,
// at most as many at once as the listener takes connections.
func (c *WebConfig) authHandler(next http.Handler) http.Handler {
	if len(c.Users) == 0 {
		return next
	}
	var mu sync.Mutex
	good := map[[sha256.Size]byte]bool{}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user, pass, ok := r.BasicAuth()
		if ok {
			key := sha256.Sum256([]byte(user + "\x00" + pass))
			mu.Lock()
			known := good[key]
			mu.Unlock()
			hash, exists := c.Users[user]
			if !known && exists && bcrypt.CompareHashAndPassword([]byte(hash), []byte(pass)) == nil {
				known = true
				mu.Lock()
				if len(good) >= maxAuthCache {
					clear(good)
				}
				good[key] = true
				mu.Unlock()
			}
			if known && exists {
				next.ServeHTTP(w, r)
				return
			}
		}
		w.Header().Set("WWW-Authenticate", `Basic realm="memrelief"`)
		http.Error(w, http.StatusText(http.StatusUnauthorized), http.StatusUnauthorized)
	})
}

const maxAuthCache = 64
