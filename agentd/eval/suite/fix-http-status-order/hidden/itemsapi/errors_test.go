package itemsapi

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func get(t *testing.T, path string) (int, string) {
	t.Helper()
	server := httptest.NewServer(Handler{Items: map[int]string{7: "kettle"}})
	defer server.Close()
	resp, err := http.Get(server.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

func TestMissingItemIs404(t *testing.T) {
	code, body := get(t, "/items/8")
	if code != http.StatusNotFound || !strings.Contains(body, "no such item") {
		t.Fatalf("%d %q", code, body)
	}
}

func TestBadIDIs400(t *testing.T) {
	code, body := get(t, "/items/abc")
	if code != http.StatusBadRequest || !strings.Contains(body, "bad item id") {
		t.Fatalf("%d %q", code, body)
	}
}
