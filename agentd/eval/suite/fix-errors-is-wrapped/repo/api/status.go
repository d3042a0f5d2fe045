// Package api turns storage results into HTTP answers.
package api

import (
	"net/http"

	"example.com/api/storage"
)

// Status is the HTTP status code for the error a storage call returned.
func Status(err error) int {
	switch err {
	case nil:
		return http.StatusOK
	case storage.ErrNotFound:
		return http.StatusNotFound
	case storage.ErrConflict:
		return http.StatusConflict
	default:
		return http.StatusInternalServerError
	}
}
