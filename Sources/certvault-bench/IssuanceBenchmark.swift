import ArgumentParser
import CertVaultCore
import CertVaultIssuer
import CertVaultPolicy
import Foundation
import Logging

/// certvault's benchmarks. They print figures and never fail on them: speed goals are read
/// from their output, not asserted.
@main
struct Benchmarks: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "certvault-bench",
        abstract: "certvault's benchmarks, each against a baseline run in the same process.",
        subcommands: [IssuanceBenchmark.self, VaultBenchmark.self, VB365Benchmark.self, OnboardingBenchmark.self, AuditBenchmark.self, RenewalBenchmark.self, WebhookBenchmark.self,
                      ServiceMemoryBenchmark.self, StorageBenchmark.self],
        defaultSubcommand: IssuanceBenchmark.self
    )
}

/// Measures issuance against the by-hand `openssl` CLI pipeline, in the same run.
struct IssuanceBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "issuance",
        abstract: "Issue N certificates per key size with certvault and with the openssl CLI pipeline; print medians and ratios.",
        discussion: "Build and run in release mode: swift run -c release certvault-bench"
    )

    @Option(help: "Key sizes to measure, comma separated.")
    var bits: String = "2048,4096"

    @Option(help: "Certificates per key size and contender (RSA-4096 uses a third of it, at least 10).")
    var count: Int = 100

    @Option(help: "Certificates for the bulk (1 core against all cores) comparison, RSA-2048.")
    var bulkCount: Int = 48

    @Option(help: "The policy to issue with.")
    var policy: String = "policy/default.toml"

    @Option(help: "The openssl binary for the by-hand pipeline.")
    var openssl: String = "/usr/bin/openssl"

    func run() async throws {
        let basePolicy = try PolicyLoader.load(path: policy)
        let logger = Logger(label: "bench") { _ in SwiftLogNoOpLogHandler() }
        let work = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: work) }

        print("certvault issuance benchmark")
        print("machine: \(ProcessInfo.processInfo.activeProcessorCount) cores, \(cpuModel()); \(opensslVersion())")
        print("policy: \(basePolicy.name), PKCS#12 \(basePolicy.pkcs12.profile.rawValue), \(basePolicy.pkcs12.iterations) iterations")
        print("")

        print("""
            Key generation searches for random primes, so its time varies several-fold from one key to the next.
            Each contender's time is therefore split into key generation and the rest (certificate, PKCS#12,
            base64), measured interleaved in the same run; the rest is where the tools differ.

            """)
        for keyBits in bits.split(separator: ",").compactMap({ Int($0.trimmingCharacters(in: .whitespaces)) }) {
            var policy = basePolicy
            policy.keyBits = keyBits
            let issuer = Issuer(policy: policy, logger: logger)
            let n = keyBits >= 4096 ? max(10, count / 3) : count
            var oursKey: [Double] = [], oursRest: [Double] = [], oursExport: [Double] = []
            var cliKey: [Double] = [], cliRestSeed: [Double] = [], cliRestEqual: [Double] = [], cliTyped: [Double] = []
            for index in 0..<n {
                // Interleaved, so that drift in machine load hits every contender alike.
                let tenant = try TenantID("bench-\(keyBits)-\(index)")
                let prepared = try issuer.prepare(IssuanceRequest(tenant: tenant, org: "Bench \(index)"))
                let (credential, keyTime, restTime) = try issuer.issueMeasuringPhases(prepared)
                oursKey.append(keyTime)
                oursRest.append(restTime)
                oursExport.append(try time {
                    _ = try CredentialExport.write(credential, summaryJSON: [], to: "\(work)/ours-\(keyBits)", password: .exportFolder)
                })
                let stem = "\(work)/cli-\(keyBits)-\(index)"
                cliKey.append(try time { try runTool(openssl, ["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:\(keyBits)",
                                                              "-out", "\(stem).key"]) })
                cliRestSeed.append(try time { try cliRest(stem: stem, index: index, settings: nil) })
                cliRestEqual.append(try time { try cliRest(stem: stem, index: index, settings: policy.pkcs12) })
                cliTyped.append(try time { try cliSeedPipeline(keyBits: keyBits, stem: stem, index: index) })
            }
            let ours = (key: median(oursKey), rest: median(oursRest))
            let cli = (key: median(cliKey), seed: median(cliRestSeed), equal: median(cliRestEqual))
            print("RSA-\(keyBits), N=\(n) per contender, medians in ms (min-max):")
            print("  key generation       certvault \(format(ours.key)) \(range(oursKey))   openssl genpkey \(format(cli.key)) \(range(cliKey))   ratio \(ratio(ours.key, cli.key))")
            print("  cert + PFX + base64  certvault \(format(ours.rest)) \(range(oursRest))   CLI, seed settings \(format(cli.seed)) \(range(cliRestSeed))   ratio \(ratio(ours.rest, cli.seed))")
            print("                                                          CLI, our settings  \(format(cli.equal)) \(range(cliRestEqual))   ratio \(ratio(ours.rest, cli.equal))")
            print("  per certificate      certvault \(format(ours.key + ours.rest))   CLI, seed \(format(cli.key + cli.seed))   ratio \(ratio(ours.key + ours.rest, cli.key + cli.seed))"
                + "   (CLI with our settings: ratio \(ratio(ours.key + ours.rest, cli.key + cli.equal)))")
            // Both sides generate keys with the same OpenSSL routine, so their key-generation times
            // come from one distribution; pooling the samples removes the luck of the draw.
            let pooled = median(oursKey + cliKey)
            print("  per certificate, key generation pooled (\(format(pooled))): certvault \(format(pooled + ours.rest))   CLI, seed \(format(pooled + cli.seed))"
                + "   ratio \(ratio(pooled + ours.rest, pooled + cli.seed))   (CLI with our settings: ratio \(ratio(pooled + ours.rest, pooled + cli.equal)))")
            print("  the seed pipeline as typed (req -newkey, pkcs12 -export, base64): \(format(median(cliTyped))) \(range(cliTyped))")
            print("  certvault writing the export folder (6 files, fsynced, rename): \(format(median(oursExport))) \(range(oursExport))")
            print("")
        }

        var bulkPolicy = basePolicy
        bulkPolicy.keyBits = 2048
        let issuer = Issuer(policy: bulkPolicy, logger: logger)
        let prepared = try (0..<bulkCount).map {
            try issuer.prepare(IssuanceRequest(tenant: try TenantID("bulk-\($0)"), org: "Bulk \($0)"))
        }
        let cores = ProcessInfo.processInfo.activeProcessorCount
        var oneCore: [Double] = [], allCores: [Double] = []
        for _ in 0..<3 {
            oneCore.append(try await timeAsync { try await bulk(issuer, prepared, jobs: 1) })
            allCores.append(try await timeAsync { try await bulk(issuer, prepared, jobs: cores) })
        }
        print("Bulk RSA-2048, \(bulkCount) certificates, median of 3 runs:")
        print("  1 job          \(format(median(oneCore))) ms  (\(format(median(oneCore) / Double(bulkCount))) ms per certificate)")
        print("  \(cores) jobs         \(format(median(allCores))) ms  (\(format(median(allCores) / Double(bulkCount))) ms per certificate)")
        print("  speed-up       \(String(format: "%.2f", median(oneCore) / median(allCores)))x on \(cores) cores")
    }

    func bulk(_ issuer: Issuer, _ prepared: [PreparedIssuance], jobs: Int) async throws {
        try await withThrowingTaskGroup(of: Int.self) { group in
            var next = 0
            for _ in 0..<min(jobs, prepared.count) {
                let item = prepared[next]
                next += 1
                group.addTask { try issuer.issue(item).pfx.count }
            }
            while try await group.next() != nil {
                if next < prepared.count {
                    let item = prepared[next]
                    next += 1
                    group.addTask { try issuer.issue(item).pfx.count }
                }
            }
        }
    }

    /// Everything after key generation, by hand: openssl req -x509 -key, openssl pkcs12 -export, base64.
    func cliRest(stem: String, index: Int, settings: IssuancePolicy.PKCS12Settings?) throws {
        try runTool(openssl, ["req", "-x509", "-key", "\(stem).key", "-sha256", "-days", "730", "-out", "\(stem).pem",
                              "-subj", "/C=US/ST=Kentucky/L=Lexington/O=Veeam Software/OU=VCSP/CN=Bench \(index)"])
        try pkcs12Export(stem: stem, index: index, settings: settings)
    }

    /// The by-hand procedure exactly as typed: openssl req -newkey, openssl pkcs12 -export, base64.
    func cliSeedPipeline(keyBits: Int, stem: String, index: Int) throws {
        try runTool(openssl, ["req", "-x509", "-newkey", "rsa:\(keyBits)", "-sha256", "-days", "730", "-nodes",
                              "-keyout", "\(stem).key", "-out", "\(stem).pem",
                              "-subj", "/C=US/ST=Kentucky/L=Lexington/O=Veeam Software/OU=VCSP/CN=Bench \(index)"])
        try pkcs12Export(stem: stem, index: index, settings: nil)
    }

    func pkcs12Export(stem: String, index: Int, settings: IssuancePolicy.PKCS12Settings?) throws {
        var export = ["pkcs12", "-export", "-inkey", "\(stem).key", "-in", "\(stem).pem", "-out", "\(stem).pfx",
                      "-name", "Bench \(index) VB365 Tenant", "-passout", "env:BENCH_PFX_PASSWORD"]
        if let settings {
            let pbe = settings.profile == .compat ? "PBE-SHA1-3DES" : "AES-256-CBC"
            export += ["-keypbe", pbe, "-certpbe", pbe, "-macalg", settings.profile == .compat ? "sha1" : "sha256",
                       "-iter", String(settings.iterations)]
        }
        try runTool(openssl, export)
        try runTool("/usr/bin/base64", ["-w0", "\(stem).pfx"], stdout: "\(stem).pfx.b64")
    }

    func range(_ values: [Double]) -> String {
        "(\(String(format: "%.1f", values.min() ?? 0))-\(String(format: "%.1f", values.max() ?? 0)))"
    }

    func ratio(_ a: Double, _ b: Double) -> String { String(format: "%.2f", a / b) }

    func runTool(_ path: String, _ arguments: [String], stdout: String? = nil) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        process.environment = ["BENCH_PFX_PASSWORD": "bench-password-not-secret", "PATH": "/usr/bin:/bin"]
        process.standardError = FileHandle.nullDevice
        if let stdout {
            _ = FileManager.default.createFile(atPath: stdout, contents: nil)
            process.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: stdout))
        } else {
            process.standardOutput = FileHandle.nullDevice
        }
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw ValidationError("\(path) \(arguments.prefix(2).joined(separator: " ")) failed with status \(process.terminationStatus)")
        }
    }

    func time(_ body: () throws -> Void) throws -> Double {
        let start = DispatchTime.now().uptimeNanoseconds
        try body()
        return Double(DispatchTime.now().uptimeNanoseconds - start) / 1_000_000
    }

    func timeAsync(_ body: () async throws -> Void) async throws -> Double {
        let start = DispatchTime.now().uptimeNanoseconds
        try await body()
        return Double(DispatchTime.now().uptimeNanoseconds - start) / 1_000_000
    }

    func median(_ values: [Double]) -> Double {
        let sorted = values.sorted()
        return sorted.count % 2 == 1 ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
    }

    func format(_ value: Double) -> String { String(format: "%8.1f", value) }

    func makeTemporaryDirectory() throws -> String {
        let path = NSTemporaryDirectory() + "/certvault-bench-\(ProcessInfo.processInfo.processIdentifier)"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        return path
    }

    func cpuModel() -> String {
        let info = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
        return info.split(separator: "\n").first { $0.hasPrefix("model name") }?.split(separator: ":").last?
            .trimmingCharacters(in: .whitespaces) ?? "unknown CPU"
    }

    func opensslVersion() -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: openssl)
        process.arguments = ["version"]
        let pipe = Pipe()
        process.standardOutput = pipe
        try? process.run()
        process.waitUntilExit()
        return String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            .trimmingCharacters(in: .whitespacesAndNewlines) + " (CLI)"
    }
}
