package main

import _ "github.com/rpiq/rpiq/models/archs" // every architecture: hf.LoadConfig and hfmodel.Open know them all
