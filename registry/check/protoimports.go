package check

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/bufbuild/protocompile/ast"
	"github.com/bufbuild/protocompile/parser"
	"github.com/bufbuild/protocompile/reporter"
	"gopkg.in/yaml.v3"
)

// importRoots are where Protobuf imports are resolved: directories inside
// the checked tree (relative, "" for its root), read from whichever tree
// is compiled, and directories outside it, read from disk.
type importRoots struct {
	inside  []string
	outside []string // absolute
	// from says where the roots came from, for --verbose; "" when each
	// file's own directory and the root are used.
	from string
}

// findImportRoots takes the import paths from the config, else from
// buf.work.yaml (its directories) or buf.yaml (v2: its modules' paths; v1:
// its directory, and build.roots), else none, meaning each file's own
// directory and the root.
func findImportRoots(root string, cfg *Config) (importRoots, error) {
	var r importRoots
	add := func(dir string) {
		dir = filepath.Clean(filepath.FromSlash(dir))
		abs := dir
		if !filepath.IsAbs(dir) {
			abs = filepath.Join(root, dir)
		}
		rootAbs, _ := filepath.Abs(root)
		abs, _ = filepath.Abs(abs)
		if rel, err := filepath.Rel(rootAbs, abs); err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
			if rel == "." {
				rel = ""
			}
			r.inside = append(r.inside, filepath.ToSlash(rel))
			return
		}
		r.outside = append(r.outside, abs)
	}
	if cfg != nil && len(cfg.ImportPaths) > 0 {
		for _, p := range cfg.ImportPaths {
			add(p)
		}
		r.from = DefaultConfigName + " import_paths"
		return r, nil
	}
	if data, err := os.ReadFile(filepath.Join(root, "buf.work.yaml")); err == nil {
		var work struct {
			Directories []string `yaml:"directories"`
		}
		if err := yaml.Unmarshal(data, &work); err != nil {
			return r, fmt.Errorf("buf.work.yaml: %w", err)
		}
		for _, d := range work.Directories {
			add(d)
		}
		r.from = "buf.work.yaml"
		return r, nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return r, err
	}
	if data, err := os.ReadFile(filepath.Join(root, "buf.yaml")); err == nil {
		var buf struct {
			Version string `yaml:"version"`
			Modules []struct {
				Path string `yaml:"path"`
			} `yaml:"modules"`
			Build struct {
				Roots []string `yaml:"roots"`
			} `yaml:"build"`
		}
		if err := yaml.Unmarshal(data, &buf); err != nil {
			return r, fmt.Errorf("buf.yaml: %w", err)
		}
		for _, m := range buf.Modules {
			add(m.Path)
		}
		for _, d := range buf.Build.Roots {
			add(d)
		}
		if len(r.inside)+len(r.outside) == 0 {
			add(".")
		}
		r.from = "buf.yaml"
		return r, nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return r, err
	}
	return r, nil
}

// forFile returns the roots a file's imports are searched in and the
// file's own import path: its path under the first root holding it.
func (r importRoots) forFile(p string) (roots []string, name string) {
	if r.from == "" {
		return []string{path.Dir(p), ""}, path.Base(p)
	}
	name = p
	for _, root := range r.inside {
		if root == "" {
			break
		}
		if strings.HasPrefix(p, root+"/") {
			name = strings.TrimPrefix(p, root+"/")
			break
		}
	}
	return r.inside, name
}

// protoImports returns the files a .proto imports, in order.
func protoImports(name string, text []byte) ([]string, error) {
	node, err := parser.Parse(name, bytes.NewReader(text), reporter.NewHandler(nil))
	if err != nil {
		return nil, err
	}
	var out []string
	for _, d := range node.Decls {
		if imp, ok := d.(*ast.ImportNode); ok {
			out = append(out, imp.Name.AsString())
		}
	}
	return out, nil
}

// protoDeps reads the files a .proto imports, transitively, from a tree:
// by import path, the content and the tree path it was read from. The
// well-known types and imports found in no root inside the tree are left
// to the compiler (standard imports and outside roots).
func protoDeps(ctx context.Context, t tree, name string, text []byte, roots []string) (map[string]string, map[string]string, error) {
	sources, paths := map[string]string{}, map[string]string{}
	var visit func(name string, text []byte) error
	visit = func(name string, text []byte) error {
		imports, err := protoImports(name, text)
		if err != nil {
			return err
		}
		for _, imp := range imports {
			if _, done := sources[imp]; done || strings.HasPrefix(imp, "google/protobuf/") {
				continue
			}
			for _, root := range roots {
				p := path.Join(root, imp)
				data, err := t.read(ctx, p)
				if errors.Is(err, fs.ErrNotExist) {
					continue
				}
				if err != nil {
					return err
				}
				sources[imp], paths[imp] = string(data), p
				if err := visit(imp, data); err != nil {
					return err
				}
				break
			}
		}
		return nil
	}
	return sources, paths, visit(name, text)
}
