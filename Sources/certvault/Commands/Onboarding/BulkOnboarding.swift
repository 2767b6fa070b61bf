import ArgumentParser
import CertVaultConfiguration
import CertVaultCore
import CertVaultOnboarding
import CertVaultVB365
import Foundation

/// Many tenants at once: bounded concurrency, a progress display, an export of the codes.
struct BulkOnboarding {
    let context: OnboardingContextOptions
    let logging: LoggingOptions
    let jobs: Int
    let json: Bool

    typealias Outcome = OnboardingBatch.Outcome

    func start(_ intakes: [OnboardingRecord.Intake], export: String?, wait: Double?) async throws {
        if let export, FileManager.default.fileExists(atPath: export) {
            throw CertVaultError(.alreadyExists, "The export file '\(export)' exists.", hint: "certvault never overwrites a file; choose another name.")
        }
        let onboarding = try context.makeOnboarding(logger: logging.makeLogger("certvault.onboard"))
        let progress = Progress(total: intakes.count, interactive: Terminal.stderrIsTerminal)
        let outcomes = try await OnboardingBatch.start(intakes, onboarding: onboarding, jobs: jobs) { Self.step(progress, $0, verb: "code for") }
        progress.finish("\(outcomes.filter { $0.record != nil }.count) of \(intakes.count) tenants have a code")
        let records = outcomes.compactMap(\.record)
        if let export { try Self.export(records, to: export) }
        var final = outcomes
        if let wait {
            final = try await resume(records.map(\.intake.tenant), onboarding: onboarding, seconds: wait, interval: 5)
        }
        try report(final, waited: wait != nil)
    }

    func waitAll(seconds: Double, interval: Double) async throws {
        let pending = try OnboardingBatch.pending(in: try context.makeStore())
        guard !pending.isEmpty else {
            Terminal.out(json ? "[]\n" : "No tenant is awaiting the customer or an unfinished add.\n")
            return
        }
        let onboarding = try context.makeOnboarding(logger: logging.makeLogger("certvault.onboard"), serverURL: pending[0].serverURL)
        try report(try await resume(pending.map(\.intake.tenant), onboarding: onboarding, seconds: seconds, interval: interval), waited: true)
    }

    private func resume(_ tenants: [TenantID], onboarding: Onboarding, seconds: Double, interval: Double) async throws -> [Outcome] {
        let progress = Progress(total: tenants.count, interactive: Terminal.stderrIsTerminal)
        let outcomes = try await OnboardingBatch.resume(tenants, onboarding: onboarding, seconds: seconds, interval: interval, jobs: jobs) {
            Self.step(progress, $0, verb: "resumed")
        }
        progress.finish("\(OnboardingBatch.tally(outcomes).onboarded) of \(tenants.count) tenants onboarded")
        return outcomes
    }

    private static func step(_ progress: Progress, _ outcome: Outcome, verb: String) {
        switch outcome {
        case .record(let record): progress.step("\(verb) \(record.intake.tenant): \(record.state.rawValue)")
        case .failure(let tenant, _): progress.step("FAILED \(tenant)")
        }
    }

    /// Prints the outcomes; exits as a single tenant's command would for the worst of them:
    /// 1 when any failed or expired, else 4 when an add is unconfirmed, else (after waiting) 3
    /// when a tenant still awaits its customer, else 0.
    private func report(_ outcomes: [Outcome], waited: Bool) throws {
        let records = outcomes.compactMap { if case .record(let record) = $0 { record } else { nil } }.sorted { $0.intake.tenant < $1.intake.tenant }
        let failures = outcomes.compactMap { if case .failure(let tenant, let error) = $0 { (tenant, error) } else { nil } }
        if json {
            Terminal.out(try OnboardingOutput.json(records))
        } else {
            let shown = { (text: String?) in text.map { DisplayText.escapingControls($0) } ?? "-" }
            Terminal.out(OnboardingOutput.table(
                ["tenant", "state", "user code", "verification URL", "code expires", "VB365 organization"],
                records.map { [$0.intake.tenant.rawValue, $0.state.rawValue, shown($0.userCode), shown($0.verificationUrl),
                               shown($0.codeExpiresAt), shown($0.organizationId)] }))
        }
        for (tenant, error) in failures { Terminal.err("certvault: \(tenant): \(error.reason)\(error.hint.map { "\n  hint: \($0)" } ?? "")\n") }
        let tally = OnboardingBatch.tally(outcomes)
        let troubled = tally.failedOrExpired
        if troubled > 0 {
            throw CertVaultError(.onboardingState, "\(troubled) of \(outcomes.count) tenants failed or expired; the others are recorded.",
                                 hint: "See 'certvault onboard status'; fix the cause and use renew-code/resume for those.")
        }
        let unconfirmed = tally.unconfirmed
        if unconfirmed > 0 {
            Terminal.err("certvault: \(unconfirmed) of \(outcomes.count) tenants have an add VB365 has not confirmed yet.\n"
                         + "  hint: Run 'certvault onboard wait --all' again later: it looks each organization up before sending anything.\n")
            throw ExitCode(4)
        }
        let awaiting = tally.awaiting
        if waited && awaiting > 0 {
            Terminal.err("certvault: \(awaiting) of \(outcomes.count) tenants are still awaiting their customer's sign-in.\n"
                         + "  hint: Wait longer with 'certvault onboard wait --all --max-wait SECONDS', or renew codes that ran out.\n")
            throw ExitCode(3)
        }
    }

    /// The codes and URLs for the provider's portal or e-mail: CSV or JSON by extension, a new 0600 file.
    static func export(_ records: [OnboardingRecord], to path: String) throws {
        let sorted = records.sorted { $0.intake.tenant < $1.intake.tenant }
        let bytes: [UInt8]
        if path.lowercased().hasSuffix(".json") {
            struct Row: Encodable {
                let tenant, displayName, orgName, region: String
                let userCode, verificationUrl, expiresAt, message: String?
            }
            bytes = Array((try Terminal.json(sorted.map {
                Row(tenant: $0.intake.tenant.rawValue, displayName: $0.intake.displayName, orgName: $0.intake.officeName,
                    region: $0.intake.region.rawValue, userCode: $0.userCode, verificationUrl: $0.verificationUrl,
                    expiresAt: $0.codeExpiresAt, message: $0.message)
            }) + "\n").utf8)
        } else {
            func field(_ text: String?) -> String {
                let value = text ?? ""
                // A leading =, +, - or @ would be a formula in a spreadsheet.
                let safe = value.first.map { "=+-@".contains($0) } == true ? "'" + value : value
                return "\"" + safe.replacingOccurrences(of: "\"", with: "\"\"") + "\""
            }
            var text = "tenant,display_name,org_name,region,user_code,verification_url,expires_at,message\n"
            for record in sorted {
                text += [record.intake.tenant.rawValue, record.intake.displayName, record.intake.officeName, record.intake.region.rawValue,
                         record.userCode, record.verificationUrl, record.codeExpiresAt, record.message].map(field).joined(separator: ",") + "\n"
            }
            bytes = Array(text.utf8)
        }
        try PrivateFiles.writeNewFileAtomically(path, bytes: bytes)
    }
}
