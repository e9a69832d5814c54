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
// The .exe's headers and imports are read with debug/pe. Its resources are
// read with github.com/tc-hib/winres (a test-only dependency): the resource
// directory (LoadFromEXE), icon groups (GetIcon), version information
// (version.FromBytes) and the manifest (AppManifestFromXML). That is the
// library go-winres writes them with, so a mistake both its writer and its
// reader share would pass here; the parts checked on their own are the icon
// images (decoded with image/png and held to their group's sizes), the
// GRPICONDIR entries, and the head of VS_VERSIONINFO (root key and
// VS_FIXEDFILEINFO signature), which version.FromBytes does not insist on.
// The .app's readers use only the standard library (encoding/xml, image/png),
// independent of build/darwin/icns.
package pkgtest
