package web

import (
	"io/fs"
	"regexp"
	"strings"
	"testing"
)

// TestDistHasTheApp checks that the committed build is embedded whole: index.html exists and every asset it
// references is in the embedded tree, so a build that forgot a file fails here rather than in a browser.
func TestDistHasTheApp(t *testing.T) {
	fsys := Dist()
	index, err := fs.ReadFile(fsys, "index.html")
	if err != nil {
		t.Fatalf("index.html is not embedded: %v (run `npm run build` in web/)", err)
	}
	refs := regexp.MustCompile(`(?:src|href)="/(assets/[^"]+)"`).FindAllStringSubmatch(string(index), -1)
	if len(refs) == 0 {
		t.Fatalf("index.html references no asset under /assets/:\n%s", index)
	}
	for _, m := range refs {
		if _, err := fs.Stat(fsys, m[1]); err != nil {
			t.Errorf("index.html references %s, which is not embedded: %v", m[1], err)
		}
	}
	sawJS := false
	_ = fs.WalkDir(fsys, "assets", func(p string, d fs.DirEntry, err error) error {
		if err == nil && strings.HasSuffix(p, ".js") {
			sawJS = true
		}
		return nil
	})
	if !sawJS {
		t.Fatal("no JavaScript under assets/")
	}
}
