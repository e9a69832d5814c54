// Package pkgtest checks linkdesk's packages the way a user's OS reads them:
// the Windows .exe's PE headers, imports and resources (icon groups, version
// information, manifest), and the macOS .app bundle's Info.plist and .icns.
//
// Its tests run inside `go tool task test:package`
// (build/scripts/check-package.sh), which builds the packages and names them
// in the environment:
//
//	LINKDESK_PACKAGE_VERSION  the version the packages were stamped with
//	LINKDESK_PACKAGE_EXE      dist/linkdesk-<version>-windows-amd64.exe
//	LINKDESK_PACKAGE_APP      a laid-out linkdesk.app
//
// A test whose file is not named is skipped, saying so (`go test ./...`
// builds no packages).
//
// The readers here are written against Microsoft's and Apple's formats with
// only the standard library (debug/pe, encoding/xml), independent of the
// tools that wrote the files (go-winres, build/darwin/icns).
package pkgtest
