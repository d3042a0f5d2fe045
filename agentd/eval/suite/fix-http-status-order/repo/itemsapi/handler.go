// Package itemsapi serves items over HTTP.
package itemsapi

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
)

// Handler serves GET /items/{id} from a map of items.
type Handler struct {
	Items map[int]string
}

func (h Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/items/"))
	if err != nil {
		w.Write([]byte("bad item id\n"))
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	name, ok := h.Items[id]
	if !ok {
		w.Write([]byte("no such item\n"))
		w.WriteHeader(http.StatusNotFound)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{"id": id, "name": name})
}
