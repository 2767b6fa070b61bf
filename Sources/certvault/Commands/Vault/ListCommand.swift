import ArgumentParser
import CertVaultCore
import CertVaultVault

/// `certvault list`: tenants and generations, without reading out secrets.
struct ListCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list", abstract: "List every tenant's generations: status, expiry, thumbprint.")

    @OptionGroup var vault: VaultOptions

    @Flag(name: .long, help: "Print JSON.")
    var json = false

    @Option(name: .long, help: ArgumentHelp("Only active generations that expire within this period, e.g. 60d (days).", valueName: "Nd"))
    var expiring: String?

    func validate() throws {
        if let expiring, Self.days(expiring) == nil { throw ValidationError("--expiring takes a number of days such as 60d.") }
    }

    static func days(_ text: String) -> Int? {
        let digits = text.hasSuffix("d") ? String(text.dropLast()) : text
        guard let value = Int(digits), (0...36_500).contains(value) else { return nil }
        return value
    }

    func run() throws {
        let opened = try vault.open()
        var entries = try opened.list()
        if let expiring, let days = Self.days(expiring) {
            let limit = UTCTime.dateTime(UTCTime.now() + Int64(days) * 86_400)
            entries = entries.filter { $0.metadata.status == .active && $0.metadata.notAfter <= limit }
        }
        if let warning = opened.indexWarning { Terminal.err("certvault: warning: \(warning)\n") }
        if json {
            Terminal.out(try Terminal.json(entries) + "\n")
            return
        }
        guard !entries.isEmpty else {
            if let expiring {
                Terminal.out("No active certificate expires within \(expiring).\n")
                return
            }
            Terminal.out("The vault is empty. Issue a certificate with 'certvault issue TENANT'.\n")
            return
        }
        var lines = ["TENANT\tGEN\tSTATUS\tNOT AFTER\tTHUMBPRINT\tKEK"]
        for entry in entries {
            lines.append("\(entry.tenant)\t\(entry.generation)\t\(entry.metadata.status.rawValue)\t\(entry.metadata.notAfter)\t"
                + "\(entry.metadata.thumbprintSHA1)\t\(entry.kekID)")
        }
        Terminal.out(Table.render(lines))
    }
}

/// `certvault show`: one generation's facts.
struct ShowCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "show", abstract: "Show a tenant's generation (no secrets).")

    @Argument(help: "The tenant id.")
    var tenant: String

    @Option(name: .long, help: "The generation (default: the newest).")
    var generation: Int?

    @OptionGroup var vault: VaultOptions

    @Flag(name: .long, help: "Print JSON.")
    var json = false

    func run() throws {
        let opened = try vault.open()
        let tenantID = try TenantID(tenant)
        guard let chosen = try generation ?? opened.generations(of: tenantID).last else {
            throw CertVaultError(.notFound, "Tenant '\(tenantID)' has nothing in the vault.", hint: "Run 'certvault list'.")
        }
        let summary = try opened.summary(tenant: tenantID, generation: chosen)
        if json {
            Terminal.out(try Terminal.json(summary) + "\n")
            return
        }
        let m = summary.metadata
        Terminal.out("""
            tenant        \(summary.tenant)
            generation    \(summary.generation) of \(try opened.generations(of: tenantID).count)
            status        \(m.status.rawValue)
            created       \(summary.created)
            not after     \(m.notAfter)
            thumbprint    \(m.thumbprintSHA1)
            KEK           \(summary.kekID)
            VB365 org     \(m.vb365OrganizationID ?? "-")
            application   \(m.applicationID ?? "-")

            """)
    }
}

/// Aligns tab-separated columns.
enum Table {
    static func render(_ lines: [String]) -> String {
        let rows = lines.map { $0.split(separator: "\t", omittingEmptySubsequences: false).map(String.init) }
        let widths = (0..<(rows.map(\.count).max() ?? 0)).map { column in rows.map { column < $0.count ? $0[column].count : 0 }.max() ?? 0 }
        return rows.map { row in
            row.enumerated().map { index, cell in
                index == row.count - 1 ? cell : cell + String(repeating: " ", count: widths[index] - cell.count + 2)
            }.joined()
        }.joined(separator: "\n") + "\n"
    }
}
