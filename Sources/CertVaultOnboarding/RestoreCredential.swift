public import CertVaultCore
public import CertVaultVault
internal import CertVaultIssuer
internal import CertVaultVB365
internal import Foundation

/// What a VB365 restore request takes for unattended (app-only) access to a tenant:
/// `applicationId`, `applicationCertificate` (base64 PFX), `applicationCertificatePassword`,
/// with the organization id, region and thumbprint to go with them.
public struct RestoreCredential: Sendable {
    public let tenant: TenantID
    public let generation: Int
    public let status: String
    public let organizationId: String?
    public let applicationId: String?
    public let region: String?
    public let msid: String?
    public let thumbprint: String
    public let notAfter: String
    /// True when this generation's certificate is the one VB365 last reported for the organization.
    public let matchesVB365: Bool
    /// A warning for the caller (a retired generation, no application id yet...).
    public let warnings: [String]
    public let pfx: [UInt8]
    public let password: SecretBytes

    /// Picks a generation and reads it out of the vault (audited, with the purpose).
    ///
    /// Without `generation` or `thumbprint`: the generation whose thumbprint matches what VB365
    /// reported for the organization (from the onboarding record), else the newest active one
    /// that VB365 knows (has an organization id), else the newest active one.
    ///
    /// With `secrets` false nothing secret is decrypted (no read-out, nothing audited): the
    /// result carries the facts only, with an empty PFX and password.
    public static func retrieve(vault: some CredentialSource, record: OnboardingRecord?, tenant: TenantID, generation: Int? = nil,
                                thumbprint: String? = nil, purpose: String, secrets: Bool = true) throws -> RestoreCredential {
        // Full metadata (the index keeps only status, expiry and thumbprint).
        let entries = try vault.generations(of: tenant).map { try vault.summary(tenant: tenant, generation: $0) }
        guard !entries.isEmpty else {
            throw CertVaultError(.invalidInput, "The vault holds no certificate for '\(tenant)'.", hint: "Check the tenant id with 'certvault list'.")
        }
        let reported = record?.reportedThumbprint?.uppercased()
        let chosen: EntrySummary
        if let generation {
            guard let entry = entries.first(where: { $0.generation == generation }) else {
                throw CertVaultError(.invalidInput, "'\(tenant)' has no generation \(generation).",
                                     hint: "Its generations: \(entries.map { String($0.generation) }.joined(separator: ", ")).")
            }
            chosen = entry
        } else if let thumbprint {
            let wanted = thumbprint.uppercased().filter { $0 != ":" && $0 != " " }
            guard let entry = entries.first(where: { $0.metadata.thumbprintSHA1.uppercased() == wanted }) else {
                throw CertVaultError(.invalidInput, "No generation of '\(tenant)' has thumbprint \(wanted).",
                                     hint: "Compare with 'certvault list'; thumbprints are SHA-1 in hex.")
            }
            chosen = entry
        } else if let reported, let entry = entries.first(where: { $0.metadata.thumbprintSHA1.uppercased() == reported }) {
            chosen = entry
        } else if let entry = entries.filter({ $0.metadata.status == .active && $0.metadata.vb365OrganizationID != nil }).max(by: { $0.generation < $1.generation })
                    ?? entries.filter({ $0.metadata.status == .active }).max(by: { $0.generation < $1.generation }) {
            chosen = entry
        } else {
            throw CertVaultError(.invalidInput, "'\(tenant)' has no active generation.",
                                 hint: "Ask for a retired one explicitly with --generation or --thumbprint.")
        }
        var warnings: [String] = []
        if chosen.metadata.status != .active {
            warnings.append("generation \(chosen.generation) is \(chosen.metadata.status.rawValue), not active")
        }
        let matches = reported != nil && chosen.metadata.thumbprintSHA1.uppercased() == reported
        if let reported, !matches {
            warnings.append("VB365 last reported certificate \(reported) for the organization; this generation's is \(chosen.metadata.thumbprintSHA1)")
        }
        let applicationId = chosen.metadata.applicationID ?? record?.applicationId
        if applicationId == nil { warnings.append("no applicationId is known: the tenant is not onboarded in VB365 yet") }
        let metadata = chosen.metadata
        let pfx: [UInt8]
        let password: SecretBytes
        if secrets {
            let (_, payload, _) = try vault.readOut(tenant: tenant, generation: chosen.generation, purpose: purpose)
            pfx = payload.pfx
            password = payload.password
        } else {
            pfx = []
            password = SecretBytes(copying: UnsafeRawBufferPointer(start: nil, count: 0))
        }
        return RestoreCredential(
            tenant: tenant, generation: chosen.generation, status: metadata.status.rawValue,
            organizationId: metadata.vb365OrganizationID ?? record?.organizationId, applicationId: applicationId,
            region: metadata.region ?? record?.intake.region.rawValue, msid: metadata.msid ?? record?.msid,
            thumbprint: metadata.thumbprintSHA1, notAfter: metadata.notAfter, matchesVB365: matches, warnings: warnings,
            pfx: pfx, password: password)
    }

    /// The JSON restore tooling reads. With `includeSecrets` false the certificate and password
    /// are left out (for displays and logs).
    public func json(includeSecrets: Bool) -> [UInt8] {
        func quote(_ text: String) -> String {
            var out = "\""
            for scalar in text.unicodeScalars {
                switch scalar {
                case "\"": out += "\\\""
                case "\\": out += "\\\\"
                case "\n": out += "\\n"
                case "\r": out += "\\r"
                case "\t": out += "\\t"
                default:
                    if scalar.value < 0x20 { out += String(format: "\\u%04x", scalar.value) } else { out.unicodeScalars.append(scalar) }
                }
            }
            return out + "\""
        }
        func optional(_ text: String?) -> String { text.map(quote) ?? "null" }
        var lines: [String] = [
            "  \"tenant\": \(quote(tenant.rawValue))",
            "  \"generation\": \(generation)",
            "  \"status\": \(quote(status))",
            "  \"organizationId\": \(optional(organizationId))",
            "  \"applicationId\": \(optional(applicationId))",
            "  \"region\": \(optional(region))",
            "  \"msid\": \(optional(msid))",
            "  \"thumbprint\": \(quote(thumbprint))",
            "  \"notAfter\": \(quote(notAfter))",
            "  \"matchesVB365\": \(matchesVB365)",
            "  \"warnings\": [\(warnings.map(quote).joined(separator: ", "))]",
        ]
        var bytes = Array(("{\n" + lines.joined(separator: ",\n")).utf8)
        lines.removeAll()
        if includeSecrets {
            bytes += Array(",\n  \"applicationCertificate\": \"\(Base64.encode(pfx))\"".utf8)
            // JSON string escaping, byte by byte, straight from secure memory (UTF-8 above 0x7F
            // passes as it is; control characters become \u00XX).
            bytes += Array(",\n  \"applicationCertificatePassword\": \"".utf8)
            let hex = Array("0123456789abcdef".utf8)
            password.withUnsafeBytes { raw in
                for byte in raw {
                    if byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") {
                        bytes += [UInt8(ascii: "\\"), byte]
                    } else if byte < 0x20 {
                        bytes += Array("\\u00".utf8) + [hex[Int(byte >> 4)], hex[Int(byte & 0xF)]]
                    } else {
                        bytes.append(byte)
                    }
                }
            }
            bytes += Array("\"".utf8)
        }
        bytes += Array("\n}\n".utf8)
        return bytes
    }
}
