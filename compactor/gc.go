package compactor

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/stratalog/strata/internal/objstore"
	"github.com/stratalog/strata/internal/segment"
)

// gcBatch is how many objects one metastore query hands to the collector.
const gcBatch = 500

// collect deletes the objects the metastore marked unreferenced more than
// DeleteGrace ago: first the object, then its row. A crash in between leaves
// the row, and the next round deletes the (missing) object again.
func (c *Compactor) collect(ctx context.Context, st *Stats) error {
	var errs []error
	for {
		if err := c.checkLease(ctx); err != nil {
			return errors.Join(append(errs, err)...)
		}
		refs, err := c.store.UnreferencedObjects(ctx, c.cfg.DeleteGrace, gcBatch)
		if err != nil {
			return errors.Join(append(errs, fmt.Errorf("compactor: %w", err))...)
		}
		keys := make([]string, len(refs))
		for i, r := range refs {
			keys[i] = r.Key
		}
		deleted, err := c.deleteObjects(ctx, keys)
		if err != nil {
			errs = append(errs, err)
		}
		if len(deleted) > 0 {
			n, err := c.store.DeleteObjectRows(ctx, deleted)
			if err != nil {
				return errors.Join(append(errs, fmt.Errorf("compactor: %w", err))...)
			}
			st.ObjectsDeleted += n
			c.m.deletions.WithLabelValues("unreferenced").Add(float64(n))
		}
		if len(refs) < gcBatch || len(deleted) < len(refs) {
			return errors.Join(errs...)
		}
	}
}

// deleteObjects deletes keys from the object store, Concurrency at a time,
// and returns those deleted.
func (c *Compactor) deleteObjects(ctx context.Context, keys []string) ([]string, error) {
	ok := make([]bool, len(keys))
	errs := make([]error, len(keys))
	sem := make(chan struct{}, c.cfg.Concurrency)
	var wg sync.WaitGroup
	for i, k := range keys {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			wg.Wait()
			return nil, ctx.Err()
		}
		wg.Go(func() {
			defer func() { <-sem }()
			dctx, cancel := context.WithTimeout(ctx, c.cfg.RequestTimeout)
			defer cancel()
			if err := c.objects.Delete(dctx, k); err != nil {
				errs[i] = fmt.Errorf("delete %s: %w", k, err)
				return
			}
			ok[i] = true
		})
	}
	wg.Wait()
	var deleted []string
	for i, k := range keys {
		if ok[i] {
			deleted = append(deleted, k)
		}
	}
	return deleted, errors.Join(errs...)
}

// sweepOrphans marks objects rows that no chunk references and that nothing
// marked (commits whose every chunk was rejected), then lists the bucket for
// segment objects older than OrphanGrace and deletes those it could claim
// as orphans: uploads whose commit never happened, compactor objects whose
// swap failed. Last, it prunes the claims older than the tombstone
// retention.
//
// No clock decides what is deleted. The age only picks the candidates; an
// object is deleted only after ClaimOrphans inserted its key's objects row,
// which a commit of the key inserts too: the commit either came first (the
// key is not claimed, the object stays) or fails (the producer retries into
// a new object). The claim stays as a tombstone after the deletion, so that
// a commit delayed by up to the retention still fails.
func (c *Compactor) sweepOrphans(ctx context.Context, st *Stats) error {
	if _, err := c.store.MarkStrayObjects(ctx, c.cfg.OrphanGrace); err != nil {
		return fmt.Errorf("compactor: %w", err)
	}
	cutoff := c.now().Add(-c.cfg.OrphanGrace)
	var (
		batch []string
		errs  []error
	)
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		if err := c.checkLease(ctx); err != nil {
			return err
		}
		orphans, err := c.store.ClaimOrphans(ctx, batch)
		if err != nil {
			return fmt.Errorf("compactor: %w", err)
		}
		batch = batch[:0]
		deleted, err := c.deleteObjects(ctx, orphans)
		for _, k := range deleted {
			c.logger.Info("deleted orphaned object", "key", k)
		}
		st.OrphansDeleted += len(deleted)
		c.m.deletions.WithLabelValues("orphan").Add(float64(len(deleted)))
		if err != nil {
			errs = append(errs, err)
		}
		return ctx.Err()
	}
	err := c.objects.List(ctx, c.cfg.ListPrefix, func(o objstore.ObjectInfo) error {
		if !segment.IsObjectKey(o.Key) || !o.LastModified.Before(cutoff) {
			return nil
		}
		batch = append(batch, o.Key)
		if len(batch) >= gcBatch {
			return flush()
		}
		return nil
	})
	if err == nil {
		err = flush()
	}
	if err != nil {
		return errors.Join(append(errs, fmt.Errorf("compactor: orphan sweep: %w", err))...)
	}
	n, err := c.store.PruneOrphanClaims(ctx, c.cfg.OrphanTombstoneRetention)
	if err != nil {
		errs = append(errs, fmt.Errorf("compactor: %w", err))
	}
	st.OrphanClaimsPruned += n
	return errors.Join(errs...)
}
