import ArgumentParser
import CertVaultConfiguration
import CertVaultCore
import CertVaultOnboarding
import CertVaultPolicy
import CertVaultVB365
import Foundation

/// `certvault rotate`: a new certificate generation for an onboarded tenant, pushed to VB365.
struct RotateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rotate",
        abstract: "Issue a new certificate generation for an onboarded tenant and push it to VB365 (PUT Organizations).",
        discussion: """
            By default VB365 registers the new certificate in the tenant's Entra application \
            (configureApplication), which needs the customer's Global Administrator to sign in with \
            a fresh device code: rotate prints it and pauses like onboarding; run rotate TENANT \
            --resume (or --wait) afterwards. The previous generation stays active until VB365 reports \
            the new certificate, then becomes superseded. --due rotates (or, with --dry-run, lists) \
            every onboarded tenant whose certificate ends within its policy's renewal window.
            """
    )

    @Argument(help: "The tenant id (omit with --due).") var tenant: String?
    @Flag(name: .long, help: "Every onboarded tenant whose certificate is inside the renewal window.") var due = false
    @Option(name: .long, help: ArgumentHelp("With --due: a window in days instead of the policy's.", valueName: "days")) var withinDays: Int?
    @Flag(name: .long, help: "With --due: only list what would be rotated.") var dryRun = false
    @Flag(name: .long, help: "Carry on a paused rotation (after the customer signed in).") var resume = false
    @Option(name: .long, help: ArgumentHelp("Wait up to this many seconds for the customer's sign-in.", valueName: "seconds")) var wait: Double?
    @Flag(name: .long, help: "Do not let VB365 register the certificate in Entra (it was uploaded there by other means); no sign-in needed.")
    var noConfigureApplication = false
    @Flag(name: .long, help: "Print the records as JSON.") var json = false
    @OptionGroup var context: OnboardingContextOptions
    @OptionGroup var logging: LoggingOptions

    func validate() throws {
        if due == (tenant != nil) { throw ValidationError("Give a tenant, or --due.") }
        if dryRun && !due { throw ValidationError("--dry-run goes with --due.") }
        if resume && due { throw ValidationError("--resume goes with one tenant.") }
    }

    func run() async throws {
        let store = try context.makeStore()
        if due && dryRun {
            // Listing needs the vault and the records, not VB365.
            let window = try withinDays ?? context.issuancePolicy().renewBeforeDays
            let due = try Onboarding.dueForRotation(vault: try context.vault.open(), store: store, withinDays: window)
            if json {
                Terminal.out(try OnboardingOutput.json(due.map(\.record)))
            } else {
                if !due.isEmpty {
                    Terminal.out(OnboardingOutput.table(["tenant", "generation", "not after"],
                                                        due.map { [$0.record.intake.tenant.rawValue, String($0.record.generation ?? 0), $0.notAfter] }))
                }
                Terminal.out("\(due.count) tenant(s) due within \(window) days\n")
            }
            return
        }
        let tenants: [TenantID]
        let firstRecord = try tenant.flatMap { try store.load(try TenantID($0)) }
        let onboarding = try context.makeOnboarding(logger: logging.makeLogger("certvault.rotate"), serverURL: firstRecord?.serverURL)
        if due {
            tenants = try onboarding.dueForRotation(withinDays: withinDays).map(\.record.intake.tenant)
        } else {
            tenants = [try TenantID(tenant!)]
        }
        var results: [OnboardingRecord] = []
        var failures = 0
        for id in tenants {
            let configure = !noConfigureApplication
            let wait = wait
            let resume = resume
            do {
                var record = try await blocking {
                    resume ? try onboarding.resumeRotation(id, wait: wait.map { .poll(seconds: $0) } ?? .checkOnce)
                        : try onboarding.rotate(id, configureApplication: configure)
                }
                if !resume, let wait, record.rotation?.phase == .awaitingCustomer {
                    if !json { Terminal.out(Self.describe(record)) }
                    record = try await blocking { try onboarding.resumeRotation(id, wait: .poll(seconds: wait)) }
                }
                results.append(record)
                if !json { Terminal.out(Self.describe(record)) }
                if record.rotation?.phase == .failed || record.rotation?.phase == .expired { failures += 1 }
            } catch let error as CertVaultError {
                failures += 1
                Terminal.err("certvault: \(id): \(error.reason)\(error.hint.map { "\n  hint: \($0)" } ?? "")\n")
            } catch let error as VB365Error {
                failures += 1
                Terminal.err("certvault: \(id): \(error.error.reason)\n  hint: \(error.outcomeUnknown ? "VB365 may have applied it; 'certvault rotate \(id) --resume' looks first." : error.error.hint ?? "see the server's message")\n")
            }
        }
        if json { Terminal.out(try OnboardingOutput.json(results)) }
        if due && tenants.isEmpty && !json { Terminal.out("No onboarded tenant is due for rotation.\n") }
        if failures > 0 { throw ExitCode(1) }
    }

    static func describe(_ record: OnboardingRecord) -> String {
        guard let rotation = record.rotation else { return "\(record.intake.tenant): no rotation\n" }
        var lines = ["\(record.intake.tenant): rotation to generation \(rotation.generation) \(rotation.phase.rawValue)"]
        switch rotation.phase {
        case .awaitingCustomer:
            lines += [
                "  VB365 registers the new certificate once the customer's Global Administrator signs in:",
                "    URL:   \(OnboardingOutput.shown(rotation.verificationUrl))",
                "    code:  \(OnboardingOutput.shown(rotation.userCode))",
                "    valid until \(OnboardingOutput.shown(rotation.codeExpiresAt))",
                "  Then: certvault rotate \(record.intake.tenant) --resume --wait 900",
                "  Generation \(rotation.previousGeneration.map(String.init) ?? "?") stays active meanwhile.",
            ]
        case .done:
            lines.append("  VB365 uses generation \(rotation.generation) (\(rotation.thumbprint)); generation \(rotation.previousGeneration.map(String.init) ?? "?") is superseded.")
        case .failed:
            lines.append("  \(OnboardingOutput.shown(rotation.failure?.reason ?? "failed")); generation \(rotation.previousGeneration.map(String.init) ?? "?") stays active.")
            if let hint = rotation.failure?.hint { lines.append("  what to do: \(OnboardingOutput.shown(hint))") }
        case .expired:
            lines.append("  The code ran out; 'certvault rotate \(record.intake.tenant)' gets a new one for the same generation.")
        case .updating:
            lines.append("  The update was not confirmed; run 'certvault rotate \(record.intake.tenant) --resume'.")
        }
        return lines.joined(separator: "\n") + "\n"
    }
}
