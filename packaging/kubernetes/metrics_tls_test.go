package kubernetes

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/memrelief/memrelief/internal/metrics"
)

// TestMetricsTLSDaemonSetIsTheDaemonSetPlusMetrics: the variant that
// serves Prometheus is daemonset.yaml with the listener, its port and the
// two volumes of its web configuration and certificates, and nothing else
// different, so the two cannot drift apart.
func TestMetricsTLSDaemonSetIsTheDaemonSetPlusMetrics(t *testing.T) {
	var base, tlsDS appsv1.DaemonSet
	decode(t, "daemonset.yaml", &base)
	decode(t, "metrics-tls/daemonset.yaml", &tlsDS)

	c := &tlsDS.Spec.Template.Spec.Containers[0]
	var listen, web string
	var args []string
	for _, a := range c.Args {
		switch {
		case strings.HasPrefix(a, "--metrics-listen="):
			listen = strings.TrimPrefix(a, "--metrics-listen=")
		case strings.HasPrefix(a, "--metrics-web-config="):
			web = strings.TrimPrefix(a, "--metrics-web-config=")
		default:
			args = append(args, a)
		}
	}
	addr, err := metrics.ParseAddr(listen, true)
	if err != nil || addr.Network != "tcp" {
		t.Fatalf("--metrics-listen=%s: %v, %+v; want a TCP listener", listen, err, addr)
	}
	if _, err := metrics.ParseAddr(listen, false); err == nil {
		t.Fatalf("--metrics-listen=%s is allowed without a web configuration: the test above proves nothing", listen)
	}
	if len(c.Ports) != 1 || c.Ports[0].Name != "metrics" || !strings.HasSuffix(listen, ":"+itoa(c.Ports[0].ContainerPort)) {
		t.Errorf("ports %+v: want one named metrics on the listener's %s", c.Ports, listen)
	}
	mountAt := map[string]corev1.VolumeMount{}
	var mounts []corev1.VolumeMount
	for _, m := range c.VolumeMounts {
		mountAt[m.Name] = m
		if m.Name != "metrics-web" && m.Name != "metrics-tls" {
			mounts = append(mounts, m)
		}
	}
	if w := mountAt["metrics-web"]; filepath.Dir(web) != w.MountPath || !w.ReadOnly {
		t.Errorf("--metrics-web-config=%s is not in the read-only metrics-web mount %+v", web, w)
	}
	if m := mountAt["metrics-tls"]; m.MountPath != "/etc/memrelief-tls" || !m.ReadOnly {
		t.Errorf("metrics-tls mount %+v", m)
	}
	var volumes []corev1.Volume
	for _, v := range tlsDS.Spec.Template.Spec.Volumes {
		switch v.Name {
		case "metrics-web":
			if v.ConfigMap == nil || v.ConfigMap.Name != "memrelief-metrics-web" {
				t.Errorf("volume metrics-web %+v: want the ConfigMap memrelief-metrics-web", v.VolumeSource)
			}
		case "metrics-tls":
			if v.Secret == nil || v.Secret.SecretName != "memrelief-metrics-tls" {
				t.Errorf("volume metrics-tls %+v: want the Secret memrelief-metrics-tls", v.VolumeSource)
			}
		default:
			volumes = append(volumes, v)
		}
	}

	// Take the additions away: what is left must be daemonset.yaml.
	baseArgs := slices.DeleteFunc(slices.Clone(base.Spec.Template.Spec.Containers[0].Args), func(a string) bool {
		return strings.HasPrefix(a, "--metrics-listen=")
	})
	base.Spec.Template.Spec.Containers[0].Args = baseArgs
	c.Args, c.Ports, c.VolumeMounts = baseArgs, nil, mounts
	tlsDS.Spec.Template.Spec.Volumes = volumes
	if !reflect.DeepEqual(args, baseArgs) {
		t.Errorf("arguments besides the metrics: %v, daemonset.yaml has %v", args, baseArgs)
	}
	if !reflect.DeepEqual(base, tlsDS) {
		t.Error("metrics-tls/daemonset.yaml differs from daemonset.yaml in more than the metrics listener, its port and its two volumes")
	}
}

// TestMetricsWebConfigLoads: the ConfigMap's web configuration is one
// memrelief accepts (mutual TLS), with the certificate files where the
// DaemonSet mounts the Secret.
func TestMetricsWebConfigLoads(t *testing.T) {
	var cm corev1.ConfigMap
	decode(t, "metrics-tls/web-config.yaml", &cm)
	if cm.Name != "memrelief-metrics-web" || cm.Namespace != "memrelief" {
		t.Errorf("web-config.yaml: %s/%s", cm.Namespace, cm.Name)
	}
	text, ok := cm.Data["web-config.yml"]
	if !ok {
		t.Fatalf("web-config.yaml has no web-config.yml: %v", cm.Data)
	}
	// The Secret's files, made for the test, where the file names them.
	dir := t.TempDir()
	certs := writeTestCerts(t, dir)
	local := strings.ReplaceAll(text, "/etc/memrelief-tls/", dir+"/")
	if local == text {
		t.Fatal("web-config.yml names no file under /etc/memrelief-tls/, where the Secret is mounted")
	}
	file := filepath.Join(dir, "web-config.yml")
	if err := os.WriteFile(file, []byte(local), 0o600); err != nil {
		t.Fatal(err)
	}
	wc, err := metrics.LoadWebConfig(file)
	if err != nil {
		t.Fatalf("memrelief refuses the ConfigMap's web configuration: %v", err)
	}
	if !wc.Protected() || wc.TLS == nil || wc.TLS.ClientAuthType != "RequireAndVerifyClientCert" || wc.TLS.ClientCAFile != certs.ca {
		t.Errorf("web configuration %+v: want mutual TLS with the Secret's ca.crt", wc.TLS)
	}
}

// TestPodMonitor: decoded strictly into the Prometheus Operator's own
// types, it selects the DaemonSet's pods, scrapes the port the metrics
// are served on, over TLS with a client certificate.
func TestPodMonitor(t *testing.T) {
	var pm monitoringv1.PodMonitor
	decode(t, "metrics-tls/podmonitor.yaml", &pm)
	var ds appsv1.DaemonSet
	decode(t, "metrics-tls/daemonset.yaml", &ds)
	if pm.APIVersion != "monitoring.coreos.com/v1" || pm.Kind != "PodMonitor" || pm.Namespace != ds.Namespace {
		t.Errorf("podmonitor.yaml: %s %s in %q", pm.APIVersion, pm.Kind, pm.Namespace)
	}
	for k, v := range pm.Spec.Selector.MatchLabels {
		if ds.Spec.Template.Labels[k] != v {
			t.Errorf("selector %s=%s does not select the DaemonSet's pods %v", k, v, ds.Spec.Template.Labels)
		}
	}
	if len(pm.Spec.Selector.MatchLabels) == 0 {
		t.Error("the PodMonitor selects every pod of the namespace")
	}
	if len(pm.Spec.PodMetricsEndpoints) != 1 {
		t.Fatalf("%d endpoints", len(pm.Spec.PodMetricsEndpoints))
	}
	ep := pm.Spec.PodMetricsEndpoints[0]
	if ep.Port == nil || *ep.Port != ds.Spec.Template.Spec.Containers[0].Ports[0].Name {
		t.Errorf("endpoint port %v: want the DaemonSet's metrics port", ep.Port)
	}
	if ep.Scheme == nil || strings.ToLower(string(*ep.Scheme)) != "https" {
		t.Errorf("scheme %v: the listener serves TLS only", ep.Scheme)
	}
	tc := ep.TLSConfig
	if tc == nil || tc.Cert.Secret == nil || tc.KeySecret == nil || tc.CA.Secret == nil || tc.ServerName == nil || *tc.ServerName == "" {
		t.Fatalf("tlsConfig %+v: the listener requires a client certificate and the CA to verify it", tc)
	}
	if tc.InsecureSkipVerify != nil && *tc.InsecureSkipVerify {
		t.Error("insecureSkipVerify: the server's certificate must be checked")
	}
}

func itoa(n int32) string { return strconv.Itoa(int(n)) }

type testCerts struct{ ca, cert, key string }

// writeTestCerts writes what a kubernetes.io/tls Secret with ca.crt holds:
// a CA, and a server certificate and key it signed.
func writeTestCerts(t *testing.T, dir string) testCerts {
	t.Helper()
	key := func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	caKey, srvKey := key(), key()
	now := time.Now()
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"}, NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	srvTmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "memrelief-metrics"}, DNSNames: []string{"memrelief-metrics"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour), ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	srvDER, err := x509.CreateCertificate(rand.Reader, srvTmpl, caTmpl, &srvKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(srvKey)
	if err != nil {
		t.Fatal(err)
	}
	c := testCerts{ca: filepath.Join(dir, "ca.crt"), cert: filepath.Join(dir, "tls.crt"), key: filepath.Join(dir, "tls.key")}
	for file, block := range map[string]*pem.Block{
		c.ca: {Type: "CERTIFICATE", Bytes: caDER}, c.cert: {Type: "CERTIFICATE", Bytes: srvDER}, c.key: {Type: "EC PRIVATE KEY", Bytes: keyDER},
	} {
		if err := os.WriteFile(file, pem.EncodeToMemory(block), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return c
}
