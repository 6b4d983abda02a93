package main

import (
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// chainSeed is the gateway's config in a bench run: a bare route /item,
// and /chain, the same upstream behind the full policy chain issue 4
// measures: jwt (HS256, a verified-token cache), a cluster-wide rate limit
// far above the offered load (every request is decided and counted, none
// refused), with the request id and the access log that every route has.
const chainSeed = `services:
  - name: up
    url: %s
routes:
  - name: item
    service: up
    paths: [/item]
  - name: chain
    service: up
    paths: [/chain]
    rewrite: /item
consumers:
  - username: bench
    credentials:
      jwt: [{key: bench-kid, algorithm: HS256, secret: "` + benchSecret + `"}]
plugins:
  - {name: jwt, route: chain}
  - {name: rate-limit, route: chain, config: {limit: 100000000, window: second, key: [consumer]}}
`

const benchSecret = "bench-secret-bench-secret-bench-secret"

// benchToken is an HS256 token of consumer bench, valid for a day.
func benchToken() string {
	tok := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"sub": "bench", "exp": time.Now().Add(24 * time.Hour).Unix(),
	})
	tok.Header["kid"] = "bench-kid"
	s, err := tok.SignedString([]byte(benchSecret))
	if err != nil {
		panic(err) // HS256 with a fixed key cannot fail
	}
	return s
}
