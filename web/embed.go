// Package web holds the admin web UI: a React single-page app whose sources live beside this file and whose
// production build (dist/) is committed and embedded here, so `go build` needs no Node toolchain.
package web

import (
	"embed"
	"io/fs"
)

// dist is the committed production build. "all:" keeps files whose names start with '.' or '_' (Rollup may emit
// chunks such as "_plugin-vue_export-helper-….js"), which a plain pattern would silently leave out.
//
//go:embed all:dist
var dist embed.FS

// Dist returns the production build rooted at dist/, so index.html is at its top. It panics only if the embed
// directive and the directory name disagree, which the package's test catches at build time.
func Dist() fs.FS {
	sub, err := fs.Sub(dist, "dist")
	if err != nil {
		panic("web: " + err.Error())
	}
	return sub
}
