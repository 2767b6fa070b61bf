import ArgumentParser
import CertVaultCore
import CertVaultServer
import CertVaultVault
import Foundation

/// Memory of a process that holds a vault of 10,000 tenants the way `certvault serve` does: the
/// vault open, every tenant listed (`GET /v1/tenants` and the metrics refresh both list), the
/// per-tenant expiry gauges built and the Prometheus text emitted. Resident set size (VmRSS) after
/// each step and the peak (VmHWM), against the same process before it opened anything. The vault
/// is filled by a child process so that the filling's own memory is in no figure.
struct ServiceMemoryBenchmark: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "service-memory",
        abstract: "Memory of a process holding a 10,000-tenant vault: open, list, metrics gauges, /metrics text.")

    @Option(help: "Tenants in the vault.")
    var tenants: Int = 10_000

    @Option(help: "Where to make the vault (default: a new folder under the temporary folder).")
    var work: String?

    @Option(help: .hidden)
    var fillOnly: String?

    func run() throws {
        if let fillOnly {
            let vault = try Vault.create(at: "\(fillOnly)/vault", protection: .keyFile(path: "\(fillOnly)/key/root.key"), actor: "bench")
            PrivateFiles.durableWrites = false
            _ = try vault.fillSynthetic(tenants: tenants, prefix: "tenant-", auditRecordsPerEntry: true)
            return
        }
        let base = work ?? NSTemporaryDirectory() + "/certvault-memory-bench-\(getpid())"
        try FileManager.default.createDirectory(atPath: base, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        defer { if work == nil { try? FileManager.default.removeItem(atPath: base) } }
        if !Vault.exists(at: "\(base)/vault") {
            let started = Date()
            _ = try Subprocess.check(CommandLine.arguments[0], ["service-memory", "--tenants", String(tenants), "--fill-only", base])
            print("filled \(tenants) tenants in \(String(format: "%.1f", Date().timeIntervalSince(started))) s (child process)")
        }
        print("certvault service memory benchmark: \(tenants) tenants, \(ProcessInfo.processInfo.activeProcessorCount) cores")
        print("step                                   VmRSS MiB   step time s")
        var previous = Date()
        func step(_ name: String) {
            let now = Date()
            print(name.padding(toLength: 38, withPad: " ", startingAt: 0)
                  + String(format: " %9.1f   %8.3f", Self.status("VmRSS") / 1024, now.timeIntervalSince(previous)))
            previous = now
        }
        step("process started, nothing opened")
        let baseline = Self.status("VmRSS")
        let vault = try Vault.open(at: "\(base)/vault", unlock: .keyFile(path: "\(base)/key/root.key"), actor: "bench")
        let reader = try vault.credentialReader()
        step("vault open, credential reader made")
        var entries = try vault.list()
        step("list: \(entries.count) entries")
        let metrics = ServiceMetrics()
        metrics.certificates(entries)
        step("metrics: \(tenants) expiry gauges built")
        var text = metrics.text()
        step("/metrics text emitted (\(text.utf8.count / 1024) KiB)")
        // A second refresh, as every scrape interval does: the steady state.
        entries = try vault.list()
        metrics.certificates(entries)
        text = metrics.text()
        step("second list + refresh + emit")
        _ = try reader.readOut(tenant: try TenantID("tenant-0"), purpose: "memory bench")
        step("one audited credential read")
        let held = Self.status("VmRSS")
        print("")
        print(String(format: "held after the steps: %.1f MiB above the process's start (%.1f MiB); peak VmHWM %.1f MiB; %.0f bytes per tenant",
                     (held - baseline) / 1024, baseline / 1024, Self.status("VmHWM") / 1024, (held - baseline) * 1024 / Double(tenants)))
        withExtendedLifetime((entries, text, reader)) {}
    }

    /// A field of /proc/self/status in KiB.
    static func status(_ field: String) -> Double {
        let text = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? ""
        for line in text.split(separator: "\n") where line.hasPrefix(field + ":") {
            return Double(line.split(separator: " ").dropFirst().first ?? "0") ?? 0
        }
        return 0
    }
}
