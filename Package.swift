// swift-tools-version:6.2
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
        // The "one input -> parse" functions the fuzzers in Tests/Fuzz (a package of their own) call.
        .library(name: "CertVaultFuzzEntries", targets: ["CertVaultFuzzEntries"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.6.0"),
        // CSV intake (tenant and onboarding files): a maintained RFC 4180 reader instead of our own.
        .package(url: "https://github.com/swiftcsv/SwiftCSV.git", from: "0.10.0"),
        // The service (certvault serve): Hummingbird 2 without its optional swift-configuration trait.
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1", traits: []),
        .package(url: "https://github.com/hummingbird-project/hummingbird-auth.git", from: "2.5.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        // The customer portal's and the dashboard's pages: Mustache templates, HTML-escaped by default.
        .package(url: "https://github.com/hummingbird-project/swift-mustache.git", from: "2.1.1"),
        // The shared store of several `certvault serve` replicas (issue 13): PostgreSQL through postgres-nio.
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.2"),
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
            name: "CertVaultVB365",
            dependencies: ["CertVaultCore", "CertVaultHTTP", .product(name: "Logging", package: "swift-log")],
            swiftSettings: swiftSettings
        ),

        // A Hummingbird application on an event loop of its own (tests start and stop it synchronously).
        .target(
            name: "CertVaultVB365Simulator",
            dependencies: [
                "CertVaultCore", "CertVaultIssuer", "CertVaultVB365",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
            ],
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

        // Who may do what: scopes, API tokens (only their hashes stored, sealed like the vault) and access
        // policies (policy/access/*.toml). No HTTP server here: the CLI's `token` commands use it too.
        .target(
            name: "CertVaultAccess",
            dependencies: [
                "CertVaultCore", "CertVaultPolicy", "CertVaultVault", "CSodium",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),

        // Webhooks: a durable outbox of lifecycle events, signed (HMAC-SHA256) and delivered with libcurl.
        // No HTTP server here: `certvault serve` runs the deliverer, `certvault webhook test` the signer and client.
        .target(
            name: "CertVaultWebhooks",
            dependencies: [
                "CertVaultCore", "CertVaultHTTP", "CertVaultOnboarding", "CSodium",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),

        // PostgreSQL as the shared store: the vault's entries, keyring and audit log, onboarding records and
        // leases, tokens, invitations and the webhook outbox in tables, behind the storage interfaces of the
        // libraries above (which never import PostgreSQL). PostgreSQL sees ciphertext and non-secret metadata only.
        .target(
            name: "CertVaultPostgres",
            dependencies: [
                "CertVaultCore", "CertVaultVault", "CertVaultOnboarding", "CertVaultAccess", "CertVaultWebhooks",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),

        // The configuration file shared by `certvault serve` and the CLI's VB365 commands.
        .target(
            name: "CertVaultConfiguration",
            dependencies: [
                "CertVaultCore", "CertVaultPolicy", "CertVaultVault", "CertVaultHTTP", "CertVaultVB365",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),

        // The HTTP service (certvault serve): routes, authentication, controllers. The only target that
        // imports the HTTP server; the libraries above never do.
        .target(
            name: "CertVaultServer",
            dependencies: [
                "CertVaultCore", "CertVaultPolicy", "CertVaultIssuer", "CertVaultVault", "CertVaultVB365",
                "CertVaultOnboarding", "CertVaultAccess", "CertVaultConfiguration", "CertVaultWebhooks", "CertVaultPostgres",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "HummingbirdAuth", package: "hummingbird-auth"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Mustache", package: "swift-mustache"),
                .product(name: "Logging", package: "swift-log"),
            ],
            // The pages' templates, stylesheet and script are compiled into the binary (PackageResources),
            // so an installed `certvault` needs no files beside it.
            resources: [.embedInCode("Portal/Resources")],
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
                "CertVaultAccess",
                "CertVaultConfiguration",
                "CertVaultServer",
                "CertVaultWebhooks",
                "CertVaultPostgres",
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
                "CertVaultOnboarding",
                "CertVaultServer",
                "CertVaultWebhooks",
                "CertVaultPostgres",
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
            name: "CertVaultFuzzEntries",
            dependencies: ["CertVaultCore", "CertVaultPolicy", "CertVaultOnboarding", "CertVaultVault", "CertVaultVB365", "CSodium"],
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
        .testTarget(
            name: "CertVaultAccessTests",
            dependencies: ["CertVaultAccess", "CertVaultVault", "CertVaultCore", "CertVaultTesting"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "CertVaultConfigurationTests",
            dependencies: ["CertVaultConfiguration", "CertVaultVault", "CertVaultVB365", "CertVaultHTTP", "CertVaultPolicy", "CertVaultCore",
                           "CertVaultTesting",
                           .product(name: "Logging", package: "swift-log")],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "CertVaultServerTests",
            dependencies: [
                "CertVaultServer", "CertVaultAccess", "CertVaultConfiguration", "CertVaultOnboarding", "CertVaultVault",
                "CertVaultIssuer", "CertVaultPolicy", "CertVaultVB365", "CertVaultVB365Simulator", "CertVaultCore",
                "CertVaultTesting", "CertVaultWebhooks", "CertVaultPostgres",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "CertVaultWebhooksTests",
            dependencies: [
                "CertVaultWebhooks", "CertVaultOnboarding", "CertVaultHTTP", "CertVaultCore", "CertVaultTesting",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "CertVaultPostgresTests",
            dependencies: [
                "CertVaultPostgres", "CertVaultVault", "CertVaultOnboarding", "CertVaultAccess", "CertVaultWebhooks",
                "CertVaultCore", "CertVaultTesting", .product(name: "Logging", package: "swift-log"),
                "CertVaultVB365", "CertVaultVB365Simulator", "CertVaultIssuer", "CertVaultPolicy", "CertVaultHTTP",
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "CertVaultFuzzReplayTests",
            dependencies: ["CertVaultFuzzEntries"],
            swiftSettings: swiftSettings
        ),
    ]
)
