//go:build !linux

package cli

import "os/exec"

func setPdeathsig(*exec.Cmd) {}
