// Package version says which build of strata is running: the release it
// was built as and the commit it was built from. It is a leaf: it imports
// nothing of the module.
package version

import (
	"runtime"
	"runtime/debug"
)

// Version is the release, set at build time with
// -ldflags "-X github.com/stratalog/strata/internal/version.Version=v1.2.3"
// (make build does it from git describe). A plain go build says "dev".
var Version = "dev"

// Commit is the VCS revision when the build sets it (make build does, with
// -X like Version); otherwise Get takes the one the go command records.
var Commit = ""

// Info is what a build knows about itself.
type Info struct {
	Version   string `json:"version"`
	Commit    string `json:"commit"`     // the VCS revision, "unknown" without one
	Modified  bool   `json:"modified"`   // built from a tree with uncommitted changes
	GoVersion string `json:"go_version"` // the Go toolchain that built it
}

// Get returns the running build's Info. The commit comes from the build
// information the go command records from a git checkout.
func Get() Info {
	info := Info{Version: Version, Commit: "unknown", GoVersion: runtime.Version()}
	if Commit != "" {
		info.Commit = Commit
	} else if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				info.Commit = s.Value
			case "vcs.modified":
				info.Modified = s.Value == "true"
			}
		}
	}
	return info
}

// String is the one-line form `strata version` prints.
func (i Info) String() string {
	commit := i.Commit
	if len(commit) > 12 {
		commit = commit[:12]
	}
	if i.Modified {
		commit += "-modified"
	}
	return "strata " + i.Version + " (commit " + commit + ", " + i.GoVersion + ")"
}
