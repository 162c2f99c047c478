package console

import (
	_ "embed"
	"net/http"
)

//go:embed style.css
var style []byte

func serveStyle(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/css; charset=utf-8")
	w.Write(style)
}
