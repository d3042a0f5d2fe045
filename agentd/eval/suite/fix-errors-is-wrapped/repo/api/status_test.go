package api

import (
	"errors"
	"net/http"
	"testing"

	"example.com/api/storage"
)

func TestStatusOfPlainErrors(t *testing.T) {
	cases := map[error]int{
		nil:                        http.StatusOK,
		storage.ErrNotFound:        http.StatusNotFound,
		storage.ErrConflict:        http.StatusConflict,
		errors.New("disk on fire"): http.StatusInternalServerError,
	}
	for err, want := range cases {
		if got := Status(err); got != want {
			t.Errorf("Status(%v) = %d, want %d", err, got, want)
		}
	}
}
