// swift-tools-version:6.0
// certvault: per-tenant certificate issuance and an encrypted vault for Veeam Backup for Microsoft 365.

import PackageDescription

let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
    .enableUpcomingFeature("InternalImportsByDefault"),
]

let package = Package(
    name: "certvault",
    products: [
        .executable(name: "certvault", targets: ["certvault"]),
        .executable(name: "certvault-bench", targets: ["certvault-bench"]),
        .library(name: "CertVaultIssuer", targets: ["CertVaultIssuer"]),
        .library(name: "CertVaultPolicy", targets: ["CertVaultPolicy"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.6.0"),
        // CSV intake (tenant and onboarding files): a maintained RFC 4180 reader instead of our own.
        .package(url: "https://github.com/swiftcsv/SwiftCSV.git", from: "0.10.0"),
    ],
    targets: [
        // MARK: The wall around C: system libraries and one thin shim target.
        .systemLibrary(
            name: "COpenSSL",
            pkgConfig: "libssl",
            providers: [.apt(["libssl-dev"])]
        ),
        .systemLibrary(
            name: "CSodium",
            pkgConfig: "libsodium",
            providers: [.apt(["libsodium-dev"])]
        ),
        .systemLibrary(
            name: "CCurl",
            pkgConfig: "libcurl",
            providers: [.apt(["libcurl4-openssl-dev"])]
        ),
        .target(
            name: "CCertVaultShims",
            dependencies: ["COpenSSL", "CCurl"],
            linkerSettings: [.linkedLibrary("ssl"), .linkedLibrary("crypto"), .linkedLibrary("curl")]
        ),

        // MARK: Libraries, one per concern.
        .target(
            name: "CertVaultCore",
            dependencies: [
                "CSodium",
                "CCertVaultShims",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "SwiftCSV", package: "SwiftCSV"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "CertVaultPolicy",
            dependencies: ["CertVaultCore"],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "CertVaultIssuer",
            dependencies: [
                "CertVaultCore",
                "CertVaultPolicy",
                "COpenSSL",
                "CCertVaultShims",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),

        .target(
            name: "CertVaultVault",
            dependencies: ["CertVaultCore", "CSodium"],
            swiftSettings: swiftSettings
        ),

        .target(
            name: "CertVaultHTTP",
            dependencies: [
                "CertVaultCore",
                "CCurl",
                "CCertVaultShims",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),

        .target(
            name: "CertVaultHTTPServer",
            dependencies: ["CertVaultCore", "COpenSSL", "CCertVaultShims"],
            swiftSettings: swiftSettings
        ),

        .target(
            name: "CertVaultVB365",
            dependencies: ["CertVaultCore", "CertVaultHTTP", .product(name: "Logging", package: "swift-log")],
            swiftSettings: swiftSettings
        ),

        .target(
            name: "CertVaultVB365Simulator",
            dependencies: ["CertVaultCore", "CertVaultIssuer", "CertVaultHTTPServer", "CertVaultVB365"],
            swiftSettings: swiftSettings
        ),

        .target(
            name: "CertVaultOnboarding",
            dependencies: [
                "CertVaultCore", "CertVaultPolicy", "CertVaultIssuer", "CertVaultVault", "CertVaultVB365",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),

        // MARK: Programs.
        .executableTarget(
            name: "certvault",
            dependencies: [
                "CertVaultCore",
                "CertVaultPolicy",
                "CertVaultIssuer",
                "CertVaultVault",
                "CertVaultHTTP",
                "CertVaultVB365",
                "CertVaultVB365Simulator",
                "CertVaultOnboarding",
                "CCurl",
                "COpenSSL",
                "CSodium",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "certvault-bench",
            dependencies: [
                "CertVaultCore",
                "CertVaultPolicy",
                "CertVaultIssuer",
                "CertVaultVault",
                "CertVaultHTTP",
                "CertVaultVB365",
                "CSodium",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),

        // MARK: Test helpers and tests.
        .executableTarget(
            name: "certvault-test-writer",
            dependencies: ["CertVaultVault", "CertVaultCore"],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "CertVaultTesting",
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "CertVaultCoreTests",
            dependencies: ["CertVaultCore", "CertVaultTesting"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "CertVaultPolicyTests",
            dependencies: ["CertVaultPolicy", "CertVaultCore", "CertVaultTesting"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "CertVaultIssuerTests",
            dependencies: ["CertVaultIssuer", "CertVaultPolicy", "CertVaultCore", "CertVaultTesting"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "CertVaultVaultTests",
            dependencies: ["CertVaultVault", "CertVaultCore", "CertVaultTesting", "certvault-test-writer"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "CertVaultHTTPTests",
            dependencies: ["CertVaultHTTP", "CertVaultCore", "CertVaultTesting", .product(name: "Logging", package: "swift-log")],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "CertVaultVB365Tests",
            dependencies: [
                "CertVaultVB365", "CertVaultVB365Simulator", "CertVaultHTTP", "CertVaultIssuer", "CertVaultPolicy", "CertVaultCore",
                "CertVaultTesting", .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "CertVaultOnboardingTests",
            dependencies: [
                "CertVaultOnboarding", "CertVaultVB365", "CertVaultVB365Simulator", "CertVaultVault", "CertVaultIssuer", "CertVaultPolicy",
                "CertVaultHTTP", "CertVaultCore", "CertVaultTesting", .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "CertVaultCLITests",
            dependencies: ["CertVaultTesting", "CertVaultIssuer", "CertVaultVB365", "CertVaultVB365Simulator", "certvault"],
            swiftSettings: swiftSettings
        ),
    ]
)
