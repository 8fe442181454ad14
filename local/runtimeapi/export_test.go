package runtimeapi

// GoBuildForTest builds a package of this module for the host, as Build
// does, so tests can build their own functions from testdata.
var GoBuildForTest = goBuild
