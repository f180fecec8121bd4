// Package pkgtest checks the packages `make package` builds: that the .deb
// and the .rpm hold exactly the expected files with the expected modes and
// contents, that the default policy is a configuration file upgrades keep,
// that the maintainer scripts are the ones in packaging/scripts, that the
// man pages render without warnings, and that the .deb installs, upgrades
// over itself and purges in a throwaway root with a binary that runs.
//
// It has no non-test code; the tests build the packages themselves (into a
// temporary directory) and skip, saying why, when a tool they need is
// missing.
package pkgtest
