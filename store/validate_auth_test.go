package store

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"reflect"
	"strings"
	"testing"
)

func pemOf(typ string, der []byte) string {
	return string(pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}))
}

func pkixPEM(t *testing.T, pub any) string {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return pemOf("PUBLIC KEY", der)
}

// authKeys are PEM keys for credential tests.
type authKeys struct{ ec256, ec256Private, ed, rsa1024, rsa2048 string }

func newAuthKeys(t *testing.T) authKeys {
	t.Helper()
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	weak, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	strong, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	priv, err := x509.MarshalECPrivateKey(ec)
	if err != nil {
		t.Fatal(err)
	}
	return authKeys{
		ec256:        pkixPEM(t, &ec.PublicKey),
		ec256Private: pemOf("EC PRIVATE KEY", priv),
		ed:           pkixPEM(t, pub),
		rsa1024:      pkixPEM(t, &weak.PublicKey),
		rsa2048:      pemOf("RSA PUBLIC KEY", x509.MarshalPKCS1PublicKey(&strong.PublicKey)),
	}
}

const secret32 = "0123456789abcdef0123456789abcdef"

// authConfig is a valid document with credentials of every kind.
func authConfig(k authKeys) *Config {
	c := validConfig("auth")
	c.Consumers = []Consumer{
		{Username: "alice", Groups: []string{"admins"}, Credentials: ConsumerCredentials{
			KeyAuth: []KeyAuthCredential{{KeyID: "main", KeyHash: HashAPIKey("alice-key")}, {KeyID: "next", KeyHash: HashAPIKey("alice-key-2")}},
			JWT: []JWTCredential{
				{Key: "alice-hs", Algorithm: "HS256", Secret: secret32},
				{Key: "https://alice.example", Algorithm: "EdDSA", PublicKey: k.ed},
			},
		}},
		{Username: "bob", Credentials: ConsumerCredentials{
			KeyAuth: []KeyAuthCredential{{KeyID: "main", KeyHash: HashAPIKey("bob-key")}},
			JWT: []JWTCredential{
				{Key: "bob-rs", Algorithm: "RS256", PublicKey: k.rsa2048},
				{Key: "bob-es", Algorithm: "ES256", PublicKey: k.ec256},
			},
		}},
	}
	c.Plugins = append(c.Plugins,
		Plugin{Name: PluginJWT, Route: "orders", Config: json.RawMessage(`{"issuer":"https://idp","audiences":["api"],"leeway":"30s","required_scopes":["orders:read"],"claims_to_headers":{"tenant":"X-Tenant"}}`)},
		Plugin{Name: PluginACL, Route: "orders", Config: json.RawMessage(`{"allow":["admins"],"deny":["suspended"]}`)},
	)
	return c
}

func TestValidateAuthValid(t *testing.T) {
	if err := authConfig(newAuthKeys(t)).Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
}

func TestValidateAuthRules(t *testing.T) {
	k := newAuthKeys(t)
	jwt0 := func(c *Config) *JWTCredential { return &c.Consumers[0].Credentials.JWT[0] }
	tests := []struct {
		name   string
		mutate func(c *Config)
		want   []FieldError
	}{
		{"alg none", func(c *Config) { c.Consumers[0].Credentials.JWT[1].Algorithm = "none" },
			[]FieldError{{"consumers[0].credentials.jwt[1].algorithm", `unsupported "none"`}}},
		{"alg missing", func(c *Config) { jwt0(c).Algorithm = "" },
			[]FieldError{{"consumers[0].credentials.jwt[0].algorithm", "is required"}}},
		{"short secret", func(c *Config) { jwt0(c).Algorithm = "HS512" },
			[]FieldError{{"consumers[0].credentials.jwt[0].secret", "must be at least 64 bytes for HS512"}}},
		{"HS with a public key", func(c *Config) { jwt0(c).PublicKey = k.ec256 },
			[]FieldError{{"consumers[0].credentials.jwt[0].public_key", "must be empty for HS256 (give secret)"}}},
		{"redacted secret", func(c *Config) { jwt0(c).Secret = RedactedValue },
			[]FieldError{{"consumers[0].credentials.jwt[0].secret", "is redacted; send the secret again"}}},
		{"RS256 with a secret", func(c *Config) { c.Consumers[1].Credentials.JWT[0].Secret = secret32 },
			[]FieldError{{"consumers[1].credentials.jwt[0].secret", "must be empty for RS256 (give public_key)"}}},
		{"RS256 without a key", func(c *Config) { c.Consumers[1].Credentials.JWT[0].PublicKey = "" },
			[]FieldError{{"consumers[1].credentials.jwt[0].public_key", "is required for RS256"}}},
		{"RS256 with an EC key", func(c *Config) { c.Consumers[1].Credentials.JWT[0].PublicKey = k.ec256 },
			[]FieldError{{"consumers[1].credentials.jwt[0].public_key", "a ECDSA P-256 key cannot verify RS256"}}},
		{"weak RSA", func(c *Config) { c.Consumers[1].Credentials.JWT[0].PublicKey = k.rsa1024 },
			[]FieldError{{"consumers[1].credentials.jwt[0].public_key", "RSA key of 1024 bits; at least 2048 are required"}}},
		{"ES384 with a P-256 key", func(c *Config) { c.Consumers[1].Credentials.JWT[1].Algorithm = "ES384" },
			[]FieldError{{"consumers[1].credentials.jwt[1].public_key", "a ECDSA P-256 key cannot verify ES384"}}},
		{"private key", func(c *Config) { c.Consumers[1].Credentials.JWT[1].PublicKey = k.ec256Private },
			[]FieldError{{"consumers[1].credentials.jwt[1].public_key", "is a private key; give the public key"}}},
		{"not PEM", func(c *Config) { c.Consumers[1].Credentials.JWT[1].PublicKey = "ssh-ed25519 AAAA" },
			[]FieldError{{"consumers[1].credentials.jwt[1].public_key", "no PEM block found"}}},
		{"jwt key missing", func(c *Config) { jwt0(c).Key = "" },
			[]FieldError{{"consumers[0].credentials.jwt[0].key", "is required"}}},
		{"jwt key shared by two consumers", func(c *Config) { c.Consumers[1].Credentials.JWT[1].Key = "alice-hs" },
			[]FieldError{{"consumers[1].credentials.jwt[1].key", `duplicate key "alice-hs" (also consumers[0].credentials.jwt[0])`}}},
		{"plaintext api key", func(c *Config) { c.Consumers[0].Credentials.KeyAuth[0].Key = "alice-key" },
			[]FieldError{{"consumers[0].credentials.key_auth[0].key", `plaintext keys are not stored: send key_hash ("sha256:" + hex SHA-256 of the key) or write through the admin API, which hashes it`}}},
		{"key hash missing", func(c *Config) { c.Consumers[0].Credentials.KeyAuth[0].KeyHash = "" },
			[]FieldError{{"consumers[0].credentials.key_auth[0].key_hash", "is required"}}},
		{"key hash malformed", func(c *Config) { c.Consumers[0].Credentials.KeyAuth[0].KeyHash = "sha256:ABC" },
			[]FieldError{{"consumers[0].credentials.key_auth[0].key_hash", `must be "sha256:" followed by 64 lower-case hex digits`}}},
		{"key hash redacted", func(c *Config) { c.Consumers[0].Credentials.KeyAuth[0].KeyHash = RedactedValue },
			[]FieldError{{"consumers[0].credentials.key_auth[0].key_hash", "is redacted; send the key again, or its key_hash"}}},
		{"one key for two consumers", func(c *Config) { c.Consumers[1].Credentials.KeyAuth[0].KeyHash = HashAPIKey("alice-key") },
			[]FieldError{{"consumers[1].credentials.key_auth[0].key_hash", "same key as consumers[0].credentials.key_auth[0]"}}},
		{"key id duplicate", func(c *Config) { c.Consumers[0].Credentials.KeyAuth[1].KeyID = "main" },
			[]FieldError{{"consumers[0].credentials.key_auth[1].key_id", `duplicate key_id "main"`}}},
		{"jwt plugin config", func(c *Config) { c.Plugins[2].Config = json.RawMessage(`{"algorithms":["none"],"leeway":"1h"}`) },
			[]FieldError{{"plugins[2].config.algorithms[0]", `unsupported "none" (supported: HS256, HS384, HS512, RS256, PS256, ES256, ES384, EdDSA)`},
				{"plugins[2].config.leeway", "must be between 0 and 10m0s"}}},
		{"jwt plugin unknown field", func(c *Config) { c.Plugins[2].Config = json.RawMessage(`{"issuers":["x"]}`) },
			[]FieldError{{"plugins[2].config.issuers", "unknown field"}}},
		{"acl plugin without lists", func(c *Config) { c.Plugins[3].Config = nil },
			[]FieldError{{"plugins[3].config", "allow or deny is required"}}},
		{"key-auth plugin names", func(c *Config) { c.Plugins[1].Config = json.RawMessage(`{"key_names":["api key"]}`) },
			[]FieldError{{"plugins[1].config.key_names[0]", `invalid name "api key"`}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := authConfig(k)
			tt.mutate(c)
			err := c.Validate()
			ve, ok := err.(*ValidationError)
			if !ok {
				t.Fatalf("Validate = %v, want a *ValidationError", err)
			}
			if !reflect.DeepEqual(ve.Errors, tt.want) {
				t.Fatalf("errors:\n got %v\nwant %v", ve.Errors, tt.want)
			}
		})
	}
}

func TestParseAuthPluginConfigs(t *testing.T) {
	tests := []struct {
		plugin string
		raw    string
		want   []string // "path: message" prefixes
	}{
		{PluginJWT, ``, nil},
		{PluginJWT, `null`, nil},
		{PluginJWT, `{"jwks_url":"https://idp/jwks","jwks_refresh_interval":"10m","jwks_min_refresh_interval":"1s","consumer_claim":"sub","keep_authorization":true}`, nil},
		{PluginJWT, `[]`, []string{"must be an object"}},
		{PluginJWT, `{"jwks_url":"ftp://idp/jwks"}`, []string{`jwks_url: scheme must be http or https, not "ftp"`}},
		{PluginJWT, `{"jwks_url":"/jwks"}`, []string{"jwks_url: scheme must be"}},
		{PluginJWT, `{"jwks_refresh_interval":"1s","jwks_min_refresh_interval":"5s"}`, []string{"jwks_min_refresh_interval: must not exceed jwks_refresh_interval (1s)"}},
		{PluginJWT, `{"leeway":-1}`, []string{"leeway: must be between 0 and 10m0s"}},
		{PluginJWT, `{"algorithms":["RS256","RS256"]}`, []string{`algorithms[1]: duplicate "RS256"`}},
		{PluginJWT, `{"audiences":[""],"required_scopes":["a b"]}`, []string{"audiences[0]: must not be empty", "required_scopes[0]: must not contain spaces"}},
		{PluginJWT, `{"claims_to_headers":{"sub":"X-Sub","tenant":"x-sub","a":"Authorization","b":"bad header"}}`,
			[]string{`claims_to_headers.a: header "Authorization" is reserved`, `claims_to_headers.b: invalid header name`, `claims_to_headers.tenant: header "X-Sub" is also set from claim "sub"`}},
		{PluginJWT, `{"leeway":true}`, []string{"leeway: "}},
		{PluginKeyAuth, `{"key_in_header":false,"key_in_query":false}`, []string{"key_in_header: key_in_header and key_in_query must not both be false"}},
		{PluginKeyAuth, `{"hide_credentials":"yes"}`, []string{"hide_credentials: must be a boolean"}},
		{PluginACL, `{"allow":["a",""],"deny":["a"]}`, []string{"allow[1]: must not be empty", `allow[0]: group "a" is also denied`}},
	}
	for _, tt := range tests {
		t.Run(tt.plugin+tt.raw, func(t *testing.T) {
			var errs []FieldError
			switch tt.plugin {
			case PluginJWT:
				_, errs = ParseJWTConfig(json.RawMessage(tt.raw))
			case PluginKeyAuth:
				_, errs = ParseKeyAuthConfig(json.RawMessage(tt.raw))
			case PluginACL:
				_, errs = ParseACLConfig(json.RawMessage(tt.raw))
			}
			if len(errs) != len(tt.want) {
				t.Fatalf("errors = %v, want %d", errs, len(tt.want))
			}
			for i, w := range tt.want {
				if !strings.HasPrefix(errs[i].String(), w) {
					t.Errorf("error %d = %q, want prefix %q", i, errs[i], w)
				}
			}
		})
	}
}

func TestAuthConfigDefaults(t *testing.T) {
	ka, _ := ParseKeyAuthConfig(nil)
	if !reflect.DeepEqual(ka.Names(), []string{"apikey"}) || !ka.InHeader() || !ka.InQuery() || ka.HideCredentials {
		t.Fatalf("key-auth defaults: %+v", ka)
	}
	j, _ := ParseJWTConfig(nil)
	refresh, minimum := j.RefreshIntervals()
	if len(j.AllowedAlgorithms()) != 8 || refresh != DefaultJWKSRefreshInterval || minimum != DefaultJWKSMinRefreshInterval || j.KeepAuthorization {
		t.Fatalf("jwt defaults: %+v", j)
	}
}

func TestRedactionAndRestore(t *testing.T) {
	k := newAuthKeys(t)
	stored := authConfig(k)
	shown := stored.WithRedactedCredentials()
	b, err := json.Marshal(shown)
	if err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{HashAPIKey("alice-key"), HashAPIKey("bob-key"), secret32} {
		if strings.Contains(string(b), secret) {
			t.Fatalf("redacted document shows %q", secret)
		}
	}
	if !strings.Contains(string(b), `"key_id":"main"`) || !strings.Contains(string(b), "PUBLIC KEY") {
		t.Fatalf("redacted document lost non-secret fields: %s", b)
	}
	if stored.Consumers[0].Credentials.KeyAuth[0].KeyHash != HashAPIKey("alice-key") || stored.Consumers[0].Credentials.JWT[0].Secret != secret32 {
		t.Fatal("WithRedactedCredentials modified the original")
	}

	// A client writes back what it read, with one new key in plaintext.
	var back Config
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	back.Consumers[1].Credentials.KeyAuth = append(back.Consumers[1].Credentials.KeyAuth, KeyAuthCredential{KeyID: "new", Key: "bob-key-2"})
	back.Consumers[0].Credentials.KeyAuth = append(back.Consumers[0].Credentials.KeyAuth, KeyAuthCredential{KeyID: "ghost", KeyHash: RedactedValue})
	back.RestoreRedactedCredentials(stored)
	back.HashAPIKeys()
	if got := back.Consumers[0].Credentials.KeyAuth[0].KeyHash; got != HashAPIKey("alice-key") {
		t.Fatalf("restored hash = %q", got)
	}
	if got := back.Consumers[0].Credentials.JWT[0].Secret; got != secret32 {
		t.Fatalf("restored secret = %q", got)
	}
	if got := back.Consumers[1].Credentials.KeyAuth[1]; got.Key != "" || got.KeyHash != HashAPIKey("bob-key-2") {
		t.Fatalf("hashed key = %+v", got)
	}
	err = back.Validate()
	if err == nil || !strings.Contains(err.Error(), "consumers[0].credentials.key_auth[2].key_hash: is redacted") {
		t.Fatalf("Validate = %v, want the unmatched redacted hash reported", err)
	}
}

func TestDecodeCredentials(t *testing.T) {
	doc := `
consumers:
  - username: alice
    groups: [admins]
    credentials:
      key_auth:
        - {key_id: main, key_hash: "` + HashAPIKey("k") + `"}
      jwt:
        - {key: alice-hs, algorithm: HS256, secret: ` + secret32 + `}
plugins:
  - name: jwt
    config: {audiences: [api], leeway: 30s}
`
	cfg, err := Decode([]byte(doc), "application/yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if got := cfg.Consumers[0].Credentials.JWT[0].Algorithm; got != "HS256" {
		t.Fatalf("algorithm = %q", got)
	}
	_, err = Decode([]byte(strings.Replace(doc, "secret:", "secrt:", 1)), "application/yaml")
	if err == nil || !strings.Contains(err.Error(), "consumers[0].credentials.jwt[0].secrt: unknown field") {
		t.Fatalf("Decode = %v, want an unknown-field path", err)
	}
	b, _ := json.Marshal(Consumer{Username: "x"})
	if string(b) != `{"username":"x"}` {
		t.Fatalf("a consumer without credentials encodes as %s", b)
	}
}
