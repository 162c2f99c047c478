//go:build !linux

package client_test

import "os/exec"

func setPdeathsig(*exec.Cmd) {}
