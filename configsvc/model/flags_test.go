package model

import "flag"

var update = flag.Bool("update", false, "rewrite generated files")
