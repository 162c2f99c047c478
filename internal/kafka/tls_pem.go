package kafka

import (
	"crypto/tls"
	"errors"
	"flag"
)

// A listener certificate given as PEM text rather than files: for
// platforms that hand a container its secrets in the environment and give
// it no writable disk (ECS and Kubernetes secrets as variables), through
// STRATA_KAFKA_TLS_CERT_PEM and STRATA_KAFKA_TLS_KEY_PEM. Such a
// certificate is read once: a rotation is a restart with the new values.

func (c *TLSConfig) registerPEMFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.CertPEM, "kafka.tls.cert-pem", "", "PEM certificate chain of the SSL and SASL_SSL listeners itself, instead of -kafka.tls.cert-file (for STRATA_KAFKA_TLS_CERT_PEM); read once")
	fs.StringVar(&c.KeyPEM, "kafka.tls.key-pem", "", "PEM private key itself, instead of -kafka.tls.key-file; set it with STRATA_KAFKA_TLS_KEY_PEM, not on the command line")
}

// checkCertSource reports whether the certificate comes from files or PEM
// text, one of them whole.
func (c TLSConfig) checkCertSource() error {
	files := c.CertFile != "" || c.KeyFile != ""
	pems := c.CertPEM != "" || c.KeyPEM != ""
	switch {
	case files && pems:
		return errors.New("kafka: give the listeners' certificate as -kafka.tls.cert-file and -kafka.tls.key-file or as -kafka.tls.cert-pem and -kafka.tls.key-pem, not both")
	case pems && (c.CertPEM == "" || c.KeyPEM == ""):
		return errors.New("kafka: -kafka.tls.cert-pem and -kafka.tls.key-pem go together")
	case !pems && (c.CertFile == "" || c.KeyFile == ""):
		return errors.New("kafka: SSL and SASL_SSL listeners need -kafka.tls.cert-file and -kafka.tls.key-file (or -kafka.tls.cert-pem and -kafka.tls.key-pem)")
	}
	return nil
}

// serverTLS is ServerTLSConfig for the certificate of c, from its files
// or its PEM text.
func (c TLSConfig) serverTLS() (*tls.Config, error) {
	if c.CertPEM == "" {
		return ServerTLSConfig(c.CertFile, c.KeyFile)
	}
	// The error of X509KeyPair never quotes the key.
	cert, err := tls.X509KeyPair([]byte(c.CertPEM), []byte(c.KeyPEM))
	if err != nil {
		return nil, errors.New("tls: -kafka.tls.cert-pem and -kafka.tls.key-pem: " + err.Error())
	}
	return &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}, nil
}
