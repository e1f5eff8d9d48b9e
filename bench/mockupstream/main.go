// Command mockupstream is a fast OpenAI-compatible upstream for load tests:
// POST /v1/chat/completions (stream and not; when
// stream_options.include_usage is set, the usage chunk at the end and
// "usage":null in every other chunk, as OpenAI sends) and GET /v1/models,
// answering from bytes encoded once at start. POST /release lets streams
// held by -hold go on. With -tls-cert it serves HTTPS (HTTP/2) with a self-signed
// certificate for 127.0.0.1 and writes that certificate where clients can
// trust it.
package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"log"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	var cfg config
	addr := flag.String("addr", "127.0.0.1:9100", "listen address")
	flag.IntVar(&cfg.Chunks, "chunks", 20, "content chunks per stream")
	flag.IntVar(&cfg.ChunkBytes, "chunk-bytes", 4, "content bytes per chunk")
	flag.DurationVar(&cfg.Delay, "delay", 0, "wait between two content chunks")
	flag.DurationVar(&cfg.Latency, "latency", 0, "wait before the first byte of an answer")
	flag.BoolVar(&cfg.Hold, "hold", false, "hold each stream after its first content chunk until POST /release")
	flag.DurationVar(&cfg.HoldMax, "hold-max", 2*time.Minute, "longest a stream is held without /release")
	flag.StringVar(&cfg.Model, "model", "bench-model", "the model GET /v1/models lists")
	certOut := flag.String("tls-cert", "", "serve HTTPS with a new self-signed certificate, written to this PEM file")
	flag.Parse()
	if err := run(*addr, *certOut, cfg); err != nil {
		log.Fatal(err)
	}
}

func run(addr, certOut string, cfg config) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: newMock(cfg).routes(), ReadHeaderTimeout: 10 * time.Second}
	scheme := "http"
	if certOut != "" {
		cert, err := selfSigned(certOut)
		if err != nil {
			return err
		}
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"h2", "http/1.1"}}
		scheme = "https"
	}
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		<-stop
		// Held streams would keep Shutdown waiting: close at once.
		_ = srv.Close()
	}()
	log.Printf("mockupstream on %s://%s: %d chunks of %d bytes, delay %v, latency %v, hold %v",
		scheme, ln.Addr(), cfg.Chunks, cfg.ChunkBytes, cfg.Delay, cfg.Latency, cfg.Hold)
	if certOut != "" {
		err = srv.ServeTLS(ln, "", "")
	} else {
		err = srv.Serve(ln)
	}
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// selfSigned makes a one-day certificate for 127.0.0.1 and localhost and
// writes it (not the key) to path.
func selfSigned(path string) (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	serial, err := rand.Int(rand.Reader, big.NewInt(1<<62))
	if err != nil {
		return tls.Certificate{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "mockupstream"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:              []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, err
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	// Written whole under another name, then renamed: the harness polls
	// for the file and must not read half of it.
	if err := os.WriteFile(path+".tmp", certPEM, 0o644); err != nil {
		return tls.Certificate{}, fmt.Errorf("writing the certificate: %w", err)
	}
	if err := os.Rename(path+".tmp", path); err != nil {
		return tls.Certificate{}, fmt.Errorf("writing the certificate: %w", err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}
