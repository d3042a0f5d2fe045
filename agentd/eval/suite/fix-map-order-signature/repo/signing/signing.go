// Package signing signs API requests with a shared secret.
package signing

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/url"
	"strings"
)

// Canonical is the query string that gets signed.
func Canonical(q url.Values) string {
	var parts []string
	for name, values := range q {
		for _, v := range values {
			parts = append(parts, url.QueryEscape(name)+"="+url.QueryEscape(v))
		}
	}
	return strings.Join(parts, "&")
}

// Sign returns the hex HMAC-SHA256 of the method, path and canonical query.
func Sign(secret []byte, method, path string, q url.Values) string {
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(method + "\n" + path + "\n" + Canonical(q)))
	return hex.EncodeToString(mac.Sum(nil))
}
