package kernel

import (
	"context"
	"errors"
	"fmt"
)

// SelfCheck proves a backend end to end with a fixed desired set: Apply
// installs it, a second Apply must change nothing, List must return exactly
// the set (keys included), and every SA must have counters. It returns the
// number of SAs and policies verified. The xfrmcheck program runs it inside a
// QEMU guest whose kernel has ESP.
func SelfCheck(ctx context.Context, b Backend, desired Set) (sas, policies int, err error) {
	if _, err := b.Apply(ctx, desired); err != nil {
		return 0, 0, fmt.Errorf("first apply: %w", err)
	}
	again, err := b.Apply(ctx, desired)
	if err != nil {
		return 0, 0, fmt.Errorf("second apply: %w", err)
	}
	if !again.None() {
		return 0, 0, fmt.Errorf("second apply of the same set changed %v", again)
	}
	got, err := b.List(ctx)
	if err != nil {
		return 0, 0, fmt.Errorf("list: %w", err)
	}
	if err := sameSet(got, desired); err != nil {
		return 0, 0, fmt.Errorf("listing differs from the applied set: %w", err)
	}
	for _, sa := range got.SAs {
		if _, err := b.Counters(ctx, sa.ID()); err != nil {
			return 0, 0, fmt.Errorf("counters: %w", err)
		}
	}
	return len(got.SAs), len(got.Policies), nil
}

// sameSet reports how got differs from want (normalized with the default
// ownership; got is already in backend form).
func sameSet(got, want Set) error {
	w, err := normalized(want, DefaultOwnership())
	if err != nil {
		return err
	}
	var errs []error
	gotSA := map[SAID]SA{}
	for _, sa := range got.SAs {
		gotSA[sa.ID()] = sa
	}
	for _, sa := range w.SAs {
		g, ok := gotSA[sa.ID()]
		switch {
		case !ok:
			errs = append(errs, fmt.Errorf("%s missing", sa))
		case diffSAFull(sa, g) != saSame:
			errs = append(errs, fmt.Errorf("%s installed as %s with other parameters", sa, g))
		}
		delete(gotSA, sa.ID())
	}
	for _, sa := range gotSA {
		errs = append(errs, fmt.Errorf("unexpected %s", sa))
	}
	gotPol := map[PolicyID]Policy{}
	for _, p := range got.Policies {
		gotPol[p.ID()] = p
	}
	for _, p := range w.Policies {
		g, ok := gotPol[p.ID()]
		switch {
		case !ok:
			errs = append(errs, fmt.Errorf("%s missing", p))
		case !samePolicyContent(p, g):
			errs = append(errs, fmt.Errorf("%s installed as %s", p, g))
		}
		delete(gotPol, p.ID())
	}
	for _, p := range gotPol {
		errs = append(errs, fmt.Errorf("unexpected %s", p))
	}
	return errors.Join(errs...)
}
