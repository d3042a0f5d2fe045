package itemsapi

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestFound(t *testing.T) {
	rec := httptest.NewRecorder()
	Handler{Items: map[int]string{7: "kettle"}}.ServeHTTP(rec, httptest.NewRequest("GET", "/items/7", nil))
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `"name":"kettle"`) {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
}
