//go:build !alixsec_initexits && !alixsec_hangs

package main

// buildVariant is "" in real firmware. The upgrade tests build broken
// variants (image -variant) to install them and watch the board fall back
// by itself; see variant_*.go.
const buildVariant = ""
