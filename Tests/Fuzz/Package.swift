// swift-tools-version:6.0
// The libFuzzer targets of certvault, a package of its own so that the root package never needs
// libFuzzer. Build and run with ./run.sh (see README.md here); the entry functions live in the
// root package's CertVaultFuzzEntries, which `swift test` also replays.

import Foundation
import PackageDescription

// A path dependency is known by its folder's name, which depends on where the repository was cloned.
let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

let package = Package(
    name: "certvault-fuzz",
    dependencies: [
        .package(path: "../.."),
    ],
    targets: [
        .target(name: "CLibFuzzerDriver"),
        .executableTarget(
            name: "certvault-fuzz",
            dependencies: ["CLibFuzzerDriver", .product(name: "CertVaultFuzzEntries", package: root.lastPathComponent)]
        ),
    ]
)
