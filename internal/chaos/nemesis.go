package chaos

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// FaultRecord is a fault as it was executed.
type FaultRecord struct {
	Fault
	// Started and Healed are times since the start of the fault phase.
	Started time.Duration `json:"started"`
	Healed  time.Duration `json:"healed"`
	// Note says what happened beyond the schedule (the compactor write
	// it waited for, a fallback).
	Note string `json:"note,omitempty"`
	// Err is set when the fault could not be injected or healed.
	Err string `json:"err,omitempty"`
}

// nemesis injects and heals faults in a cluster, recording each in the
// history.
type nemesis struct {
	c    *Cluster
	h    *History
	logf func(string, ...any)
}

// run injects f, holds it and heals it.
func (n *nemesis) run(ctx context.Context, f Fault, phaseStart time.Time) FaultRecord {
	rec := FaultRecord{Fault: f, Started: time.Since(phaseStart)}
	target := f.Target()
	inv := n.h.Now()
	heal, note, err := n.inject(ctx, f)
	n.h.Add(Op{Process: ProcessNemesis, Type: OpFault, Fault: string(f.Kind), Target: target, Value: "start", Outcome: outcomeOfErr(err), Err: errString(err), Invoke: inv, Complete: n.h.Now()})
	rec.Note = note
	if err != nil {
		rec.Err = "inject: " + err.Error()
	}
	_ = sleepCtx(ctx, f.Hold)
	inv = n.h.Now()
	var herr error
	if heal != nil {
		herr = heal(context.WithoutCancel(ctx))
		if herr != nil {
			// Once more: a heal that fails leaves the rest of the run
			// judging a broken cluster.
			n.logf("heal of %s failed, trying again: %v", f.Kind, herr)
			herr = heal(context.WithoutCancel(ctx))
		}
	}
	n.h.Add(Op{Process: ProcessNemesis, Type: OpFault, Fault: string(f.Kind), Target: target, Value: "heal", Outcome: outcomeOfErr(herr), Err: errString(herr), Invoke: inv, Complete: n.h.Now()})
	if herr != nil {
		rec.Err = errors.Join(errors.New(rec.Err), fmt.Errorf("heal: %w", herr)).Error()
	}
	rec.Healed = time.Since(phaseStart)
	return rec
}

func outcomeOfErr(err error) Outcome {
	if err != nil {
		return Failed
	}
	return OK
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// inject starts fault f and returns the function that heals it.
func (n *nemesis) inject(ctx context.Context, f Fault) (heal func(context.Context) error, note string, err error) {
	c := n.c
	node := c.Nodes[f.Node%len(c.Nodes)]
	switch f.Kind {
	case FaultNodeKill:
		node.Kill()
		return node.Start, "", nil
	case FaultNodePause:
		if err := node.Pause(); err != nil {
			return nil, "", err
		}
		return func(context.Context) error { return node.Resume() }, "", nil
	case FaultPGRestart:
		c.PG.StopPrimary(f.Mode)
		return c.PG.StartPrimary, "", nil
	case FaultPGFailover:
		if !c.PG.HasStandby() {
			c.PG.StopPrimary("kill")
			return c.PG.StartPrimary, "no standby: restarted the primary instead", nil
		}
		from := c.PG.Primary()
		c.PG.StopPrimary("kill")
		return func(ctx context.Context) error {
			if c.PG.Primary() == from {
				if err := c.PG.Promote(ctx); err != nil {
					return err
				}
			}
			return c.PG.RebuildStandby(ctx)
		}, fmt.Sprintf("primary slot %d killed, slot %d promoted", from, 1-from), nil
	case FaultMinioKill:
		c.Minio.Kill()
		return c.Minio.Start, "", nil
	case FaultS3Slow, FaultS3Error, FaultS3SlowDown, FaultS3Timeout, FaultS3LostResponse:
		node.S3.inject(s3Fault{kind: f.Kind, ratio: f.Ratio, delay: f.Delay, mode: f.Mode})
		return func(context.Context) error { node.S3.Heal(); return nil }, "", nil
	case FaultPGCut:
		cut := 0
		for _, p := range node.PG {
			if p != nil {
				cut += p.Cut()
			}
		}
		return func(context.Context) error { n.healPG(node); return nil }, fmt.Sprintf("%d connections cut", cut), nil
	case FaultPGDelay:
		for _, p := range node.PG {
			if p != nil {
				p.Delay(f.Delay)
			}
		}
		return func(context.Context) error { n.healPG(node); return nil }, "", nil
	case FaultCompactorKill:
		comp := c.Compactor
		killed := make(chan bool, 1)
		comp.S3.OnNextWrite(f.Mode == "after-put", func(bool) {
			comp.Kill()
			killed <- true
		})
		wait := 15 * time.Second
		select {
		case <-killed:
			note = "killed during a merge write (" + f.Mode + ")"
		case <-time.After(wait):
			comp.S3.Heal() // drops the hook
			comp.Kill()
			note = fmt.Sprintf("no merge write within %v: killed between merges", wait)
		case <-ctx.Done():
			comp.S3.Heal()
			return nil, "", ctx.Err()
		}
		return func(ctx context.Context) error {
			comp.S3.Heal()
			return comp.Start(ctx)
		}, note, nil
	case FaultClockSkew:
		comp := c.Compactor
		listed := comp.S3.SkewedListings()
		comp.S3.inject(s3Fault{skew: time.Hour})
		node.S3.inject(s3Fault{kind: FaultS3Slow, mode: "response", delay: f.Delay, ratio: 1, writesOnly: true})
		return func(ctx context.Context) error {
			// Healed once the orphan collector has listed the bucket
			// twice through the skew (it may be busy merging), at most
			// 30s more.
			_ = waitFor(ctx, 30*time.Second, func() bool { return comp.S3.SkewedListings()-listed >= 2 })
			comp.S3.Heal()
			node.S3.Heal()
			n.logf("  the compactor listed the bucket %d times through the skew", comp.S3.SkewedListings()-listed)
			return nil
		}, fmt.Sprintf("compactor sees objects 1h older; %s's uploads answered %v late", node.Name, f.Delay), nil
	}
	return nil, "", fmt.Errorf("chaos: unknown fault %q", f.Kind)
}

func (n *nemesis) healPG(node *Node) {
	for _, p := range node.PG {
		if p != nil {
			p.Heal()
		}
	}
}

// healAll undoes whatever may be left: every proxy healed, every node
// resumed and running, both PostgreSQL servers and MinIO up.
func (n *nemesis) healAll(ctx context.Context) error {
	c := n.c
	var errs []error
	for _, node := range c.All() {
		node.S3.Heal()
		n.healPG(node)
		if node.Running() {
			_ = node.Resume()
		}
	}
	if c.Minio != nil && (c.Minio.proc == nil || !c.Minio.proc.Running()) {
		errs = append(errs, c.Minio.Start(ctx))
	}
	for _, node := range c.All() {
		if !node.Running() {
			n.logf("%s was down at the end (%s): starting it", node.Name, node.Exited())
			errs = append(errs, node.Start(ctx))
		}
	}
	return errors.Join(errs...)
}
