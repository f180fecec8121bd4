package metrics

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// testCA makes certificates for tests: a CA, and leaves it signs.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
}

func newTestCA(t *testing.T) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &testCA{cert: cert, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

// leaf writes a certificate (serial, for 127.0.0.1, server or client) and
// its key to certFile and keyFile.
func (ca *testCA) leaf(t *testing.T, serial int64, client bool, certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: "memrelief test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	if client {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	write(t, certFile, string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})))
	write(t, keyFile, string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})))
}

func write(t *testing.T, path, data string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
}

func hash(t *testing.T, password string) string {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return string(h)
}

func TestLoadWebConfig(t *testing.T) {
	dir := t.TempDir()
	ca := newTestCA(t)
	ca.leaf(t, 2, false, filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key"))
	write(t, filepath.Join(dir, "ca.crt"), string(ca.pem))
	h := hash(t, "s3cret")
	for _, c := range []struct {
		name, body string
		protected  bool
		err        string
	}{
		{"empty", "", false, ""},
		{"users", "basic_auth_users:\n  prometheus: " + h + "\n", true, ""},
		// Paths relative to the file, as node_exporter takes them.
		{"tls", "tls_server_config:\n  cert_file: tls.crt\n  key_file: tls.key\n", true, ""},
		{"mtls", "tls_server_config:\n  cert_file: tls.crt\n  key_file: " + filepath.Join(dir, "tls.key") +
			"\n  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: ca.crt\n  min_version: TLS13\n", true, ""},
		{"unsupported key", "tls_server_config:\n  cert_file: tls.crt\n  key_file: tls.key\n  cipher_suites: [TLS_AES_128_GCM_SHA256]\n", false, "line 4: field cipher_suites not found"},
		{"misspelt section", "basic_auth_user:\n  a: b\n", false, "field basic_auth_user not found"},
		{"plain password", "basic_auth_users:\n  prometheus: s3cret\n", false, "prometheus: not a bcrypt hash"},
		{"no key", "tls_server_config:\n  cert_file: tls.crt\n", false, "cert_file and key_file are both needed"},
		{"missing cert", "tls_server_config:\n  cert_file: gone.crt\n  key_file: tls.key\n", false, "gone.crt"},
		{"bad auth type", "tls_server_config:\n  cert_file: tls.crt\n  key_file: tls.key\n  client_auth_type: Maybe\n", false, `client_auth_type "Maybe"`},
		{"verify without CA", "tls_server_config:\n  cert_file: tls.crt\n  key_file: tls.key\n  client_auth_type: RequireAndVerifyClientCert\n", false, "needs client_ca_file"},
		{"bad version", "tls_server_config:\n  cert_file: tls.crt\n  key_file: tls.key\n  min_version: SSL3\n", false, `min_version "SSL3"`},
		{"huge", "basic_auth_users:\n" + strings.Repeat("# padding\n", 120000), false, "larger than"},
	} {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(c.name, " ", "-")+".yml")
			write(t, path, c.body)
			w, err := LoadWebConfig(path)
			switch {
			case c.err == "" && err != nil:
				t.Fatalf("LoadWebConfig: %v", err)
			case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err) || !strings.Contains(err.Error(), path)):
				t.Fatalf("LoadWebConfig = %v; want an error naming %s and saying %q", err, path, c.err)
			case c.err == "" && w.Protected() != c.protected:
				t.Errorf("Protected() = %v, want %v", w.Protected(), c.protected)
			}
		})
	}
	var none *WebConfig
	if none.Protected() {
		t.Error("no web configuration counts as protected")
	}
}

func TestParseAddrProtected(t *testing.T) {
	for in, want := range map[string]string{":9780": ":9780", "0.0.0.0:9780": "0.0.0.0:9780", "10.0.0.5:9780": "10.0.0.5:9780", "127.0.0.1:9780": "127.0.0.1:9780"} {
		a, err := ParseAddr(in, true)
		if err != nil || a.String() != want || a.Network != "tcp" {
			t.Errorf("ParseAddr(%q, protected) = %v, %v; want %s", in, a, err, want)
		}
	}
	if _, err := ParseAddr("0.0.0.0:9780", false); err == nil || !strings.Contains(err.Error(), "--metrics-web-config") {
		t.Errorf("unprotected 0.0.0.0: %v; want a refusal that says how to listen beyond loopback", err)
	}
}

// serveWith serves memrelief's page with web on 127.0.0.1 and returns its
// address.
func serveWith(t *testing.T, web *WebConfig) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Skipf("SKIP: no loopback network here (%v); TLS serving NOT tested", err)
	}
	serveOn(t, ln, Options{Web: web})
	return ln.Addr().String()
}

func get(t *testing.T, c *http.Client, url, user, pass string) (*http.Response, string, error) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	if user != "" {
		req.SetBasicAuth(user, pass)
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body), nil
}

// TestServeTLSAndBasicAuth: with TLS and users, plain HTTP gets nothing,
// HTTPS without the right password gets 401, with it the page; a renewed
// certificate is served to the next connection without a restart.
func TestServeTLSAndBasicAuth(t *testing.T) {
	dir := t.TempDir()
	ca := newTestCA(t)
	crt, key := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	ca.leaf(t, 2, false, crt, key)
	cfg := filepath.Join(dir, "web.yml")
	write(t, cfg, "tls_server_config:\n  cert_file: tls.crt\n  key_file: tls.key\nbasic_auth_users:\n  prometheus: "+hash(t, "s3cret")+"\n")
	web, err := LoadWebConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	addr := serveWith(t, web)

	plain := &http.Client{Timeout: 10 * time.Second}
	if resp, body, err := get(t, plain, "http://"+addr+"/metrics", "prometheus", "s3cret"); err == nil && (resp.StatusCode == 200 || strings.Contains(body, "memrelief_")) {
		t.Errorf("plain HTTP to the TLS listener: %d %q", resp.StatusCode, body)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca.cert)
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, DisableKeepAlives: true}}
	for _, c := range []struct{ user, pass string }{{"", ""}, {"prometheus", "wrong"}, {"nobody", "s3cret"}} {
		resp, body, err := get(t, client, "https://"+addr+"/metrics", c.user, c.pass)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("WWW-Authenticate") == "" || strings.Contains(body, "memrelief_") {
			t.Errorf("user %q password %q: %d %.200q, want 401 asking for basic authentication", c.user, c.pass, resp.StatusCode, body)
		}
	}
	for range 2 { // the second time from the cache of good passwords
		resp, body, err := get(t, client, "https://"+addr+"/metrics", "prometheus", "s3cret")
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != 200 || !strings.Contains(body, "memrelief_build_info") {
			t.Fatalf("right password: %d %.200q", resp.StatusCode, body)
		}
		if n := resp.TLS.PeerCertificates[0].SerialNumber.Int64(); n != 2 {
			t.Errorf("served certificate serial %d, want 2", n)
		}
	}

	ca.leaf(t, 3, false, crt, key) // renewed in place, as cert-manager does
	resp, _, err := get(t, client, "https://"+addr+"/metrics", "prometheus", "s3cret")
	if err != nil {
		t.Fatal(err)
	}
	if n := resp.TLS.PeerCertificates[0].SerialNumber.Int64(); n != 3 {
		t.Errorf("after renewal the listener serves serial %d, want 3", n)
	}
}

// TestServeRequiresClientCertificate: with RequireAndVerifyClientCert, a
// client without a certificate from the configured CA gets no page.
func TestServeRequiresClientCertificate(t *testing.T) {
	dir := t.TempDir()
	ca, other := newTestCA(t), newTestCA(t)
	ca.leaf(t, 2, false, filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key"))
	ca.leaf(t, 4, true, filepath.Join(dir, "client.crt"), filepath.Join(dir, "client.key"))
	other.leaf(t, 5, true, filepath.Join(dir, "stranger.crt"), filepath.Join(dir, "stranger.key"))
	write(t, filepath.Join(dir, "ca.crt"), string(ca.pem))
	cfg := filepath.Join(dir, "web.yml")
	write(t, cfg, "tls_server_config:\n  cert_file: tls.crt\n  key_file: tls.key\n  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: ca.crt\n")
	web, err := LoadWebConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	addr := serveWith(t, web)
	pool := x509.NewCertPool()
	pool.AddCert(ca.cert)
	client := func(name string) *http.Client {
		tc := &tls.Config{RootCAs: pool}
		if name != "" {
			c, err := tls.LoadX509KeyPair(filepath.Join(dir, name+".crt"), filepath.Join(dir, name+".key"))
			if err != nil {
				t.Fatal(err)
			}
			tc.Certificates = []tls.Certificate{c}
		}
		return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: tc}}
	}
	for _, name := range []string{"", "stranger"} {
		if resp, body, err := get(t, client(name), "https://"+addr+"/metrics", "", ""); err == nil {
			t.Errorf("client certificate %q: %d %.100q, want the handshake refused", name, resp.StatusCode, body)
		}
	}
	resp, body, err := get(t, client("client"), "https://"+addr+"/metrics", "", "")
	if err != nil || resp.StatusCode != 200 || !strings.Contains(body, "memrelief_build_info") {
		t.Fatalf("client with the CA's certificate: %v %v", resp, err)
	}
}
