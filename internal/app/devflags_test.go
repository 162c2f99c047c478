package app

import (
	"os"
	"path/filepath"
	"testing"
)

// TestDevDataDirFromEverySource: -data-dir moves dev's objects and
// metastore whichever source sets it (flag, STRATA_DATA_DIR, the YAML
// file), and a setting of its own still wins over the data directory.
func TestDevDataDirFromEverySource(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "elsewhere")
	file := filepath.Join(t.TempDir(), "dev.yaml")
	if err := os.WriteFile(file, []byte("data-dir: "+dir+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for name, src := range map[string]struct {
		args []string
		env  map[string]string
	}{
		"flag":        {[]string{"-data-dir", dir}, nil},
		"environment": {nil, map[string]string{"STRATA_DATA_DIR": dir}},
		"yaml":        {[]string{"-config.file", file}, nil},
	} {
		d := newDevFlags()
		restore := setEnv(t, src.env)
		err := d.load(src.args)
		restore()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if d.dataDir != dir || d.cfg.SQLite.Path != filepath.Join(dir, "meta.db") || d.cfg.Objects.URL != filepath.Join(dir, "objects") {
			t.Errorf("%s: data dir %q, metastore %q, objects %q; want them in %s", name, d.dataDir, d.cfg.SQLite.Path, d.cfg.Objects.URL, dir)
		}
		if d.cfg.Kafka.ListenAddress != "127.0.0.1:9092" {
			t.Errorf("%s: listens on %q, dev's default is 127.0.0.1:9092", name, d.cfg.Kafka.ListenAddress)
		}
	}

	d := newDevFlags()
	restore := setEnv(t, map[string]string{"STRATA_DATA_DIR": dir, "STRATA_METASTORE_SQLITE_PATH": "/elsewhere/meta.db"})
	defer restore()
	if err := d.load([]string{"-kafka.listen-address", "127.0.0.1:19092"}); err != nil {
		t.Fatal(err)
	}
	if d.cfg.SQLite.Path != "/elsewhere/meta.db" || d.cfg.Objects.URL != filepath.Join(dir, "objects") || d.cfg.Kafka.ListenAddress != "127.0.0.1:19092" {
		t.Errorf("metastore %q, objects %q, listener %q: a setting of its own gave way to the data directory",
			d.cfg.SQLite.Path, d.cfg.Objects.URL, d.cfg.Kafka.ListenAddress)
	}
}
