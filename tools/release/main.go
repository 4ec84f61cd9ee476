// Command release packs modules of this repository as Go module zips into a directory
// laid out as a GOPROXY (file://), so that a consumer outside the repository can
// `go get` them at the versions they would be tagged, before any tag exists.
//
// Usage:
//
//	go run ./tools/release -proxy DIR -version v0.1.0 [-root REPO] MODULEDIR...
//
// Each MODULEDIR is relative to REPO (default "."); the module path comes from its
// go.mod. The zip is made by golang.org/x/mod/zip, as the go command and the module
// proxy make it: nested modules, vendor directories and files the go command ignores
// are left out, and the same size limits apply. For each module it prints the module
// path and the zip's size in bytes.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/mod/modfile"
	"golang.org/x/mod/module"
	"golang.org/x/mod/zip"
)

func main() {
	proxy := flag.String("proxy", "", "directory to write the proxy layout into (required)")
	version := flag.String("version", "", "version every module is packed at, e.g. v0.1.0 (required)")
	root := flag.String("root", ".", "repository root the module directories are relative to")
	flag.Parse()
	if *proxy == "" || *version == "" || flag.NArg() == 0 {
		flag.Usage()
		os.Exit(2)
	}
	for _, dir := range flag.Args() {
		size, path, err := pack(*proxy, *version, filepath.Join(*root, dir))
		if err != nil {
			fmt.Fprintf(os.Stderr, "release: %s: %v\n", dir, err)
			os.Exit(1)
		}
		fmt.Fprintf(os.Stdout, "%s\t%s\t%d\n", path, *version, size) // the command's output: one line a module
	}
}

// pack writes DIR's module at version into the proxy directory: @v/list, .info, .mod and
// .zip, and returns the zip's size and the module path.
func pack(proxy, version, dir string) (int64, string, error) {
	gomod, err := os.ReadFile(filepath.Join(dir, "go.mod"))
	if err != nil {
		return 0, "", err
	}
	mf, err := modfile.ParseLax(filepath.Join(dir, "go.mod"), gomod, nil)
	if err != nil {
		return 0, "", err
	}
	if mf.Module == nil {
		return 0, "", fmt.Errorf("go.mod names no module")
	}
	mv := module.Version{Path: mf.Module.Mod.Path, Version: version}
	if err := module.Check(mv.Path, mv.Version); err != nil {
		return 0, "", err
	}
	esc, err := module.EscapePath(mv.Path)
	if err != nil {
		return 0, "", err
	}
	vdir := filepath.Join(proxy, filepath.FromSlash(esc), "@v")
	if err := os.MkdirAll(vdir, 0o755); err != nil {
		return 0, "", err
	}
	zf, err := os.Create(filepath.Join(vdir, version+".zip"))
	if err != nil {
		return 0, "", err
	}
	if err := zip.CreateFromDir(zf, mv, dir); err != nil {
		zf.Close()
		return 0, "", err
	}
	if err := zf.Close(); err != nil {
		return 0, "", err
	}
	info, err := json.Marshal(struct {
		Version string
		Time    time.Time
	}{version, time.Now().UTC().Truncate(time.Second)})
	if err != nil {
		return 0, "", err
	}
	for name, data := range map[string][]byte{version + ".mod": gomod, version + ".info": info, "list": []byte(version + "\n")} {
		if err := os.WriteFile(filepath.Join(vdir, name), data, 0o644); err != nil {
			return 0, "", err
		}
	}
	st, err := os.Stat(filepath.Join(vdir, version+".zip"))
	if err != nil {
		return 0, "", err
	}
	return st.Size(), mv.Path, nil
}
