import CertVaultConfiguration
import CertVaultCore
import CertVaultOnboarding
import CertVaultVB365

/// The customer's intake form (`form#intake`): its fields, the server-side checks (those of
/// ``OnboardingRecord/Intake/validate()`` and more), and the values to show again after an error.
struct OnboardingForm: Sendable {
    /// The service checkboxes, in the order shown: (field name, label).
    static let services: [(field: String, label: String)] = [
        ("service_exchange", "Exchange Online (mailboxes)"),
        ("service_sharepoint", "SharePoint Online and OneDrive for Business"),
        ("service_teams", "Microsoft Teams (needs Exchange Online and SharePoint Online)"),
        ("service_teams_chats", "Teams chats (needs Microsoft Teams)"),
    ]
    /// The regions VB365 knows, with what customers call them.
    static let regions: [(value: VB365Region, label: String)] = VB365Region.allCases.map { region in
        switch region {
        case .worldwide: (region, "Worldwide (most organizations)")
        case .germany: (region, "Microsoft Cloud Germany")
        case .china: (region, "Microsoft 365 operated by 21Vianet (China)")
        case .usDefence: (region, "Microsoft 365 US Government DoD")
        case .usGovernment: (region, "Microsoft 365 US Government GCC High")
        }
    }
    /// Longest free-text answers.
    static let maximumNameLength = 200
    static let maximumExtraLength = 500

    var organization = ""
    var region = VB365Region.worldwide.rawValue
    var exchange = true
    var sharePoint = true
    var teams = true
    var teamsChats = false
    var contactName = ""
    var contactEmail = ""
    /// Answers to `[portal] extra_fields`, in their order.
    var extras: [String]
    /// Field name -> message.
    var errors: [String: String] = [:]

    /// An empty form (the services preselected as VB365's usual choice).
    init(extraCount: Int) { extras = Array(repeating: "", count: extraCount) }

    /// The posted values (a checkbox not sent is off).
    init(_ body: FormBody, extraCount: Int) {
        organization = (body["organization"] ?? "").trimmingWhitespace()
        region = body["region"] ?? ""
        exchange = body["service_exchange"] != nil
        sharePoint = body["service_sharepoint"] != nil
        teams = body["service_teams"] != nil
        teamsChats = body["service_teams_chats"] != nil
        contactName = (body["contact_name"] ?? "").trimmingWhitespace()
        contactEmail = (body["contact_email"] ?? "").trimmingWhitespace()
        extras = (0..<extraCount).map { (body["extra_\($0 + 1)"] ?? "").trimmingWhitespace() }
    }

    /// Checks every field and fills ``errors``; true when there is none.
    mutating func validate() -> Bool {
        errors = [:]
        let name = organization.lowercased()
        if organization.isEmpty {
            errors["organization"] = "Enter your Microsoft 365 organization name, such as contoso.onmicrosoft.com."
        } else if !Self.isDomainName(name) {
            errors["organization"] =
                "This is not a Microsoft 365 organization name. Enter your initial domain (contoso.onmicrosoft.com) "
                + "or a domain of your organization (contoso.com), without spaces or https://."
        }
        if VB365Region(rawValue: region) == nil {
            errors["region"] = "Choose the region of your Microsoft 365 organization."
        }
        if !(exchange || sharePoint || teams || teamsChats) {
            errors["services"] = "Choose at least one service to protect."
        } else if teamsChats && !teams {
            errors["services"] = "Teams chats are backed up as part of Microsoft Teams: choose Microsoft Teams too, or leave chats out."
        } else if teams && !(exchange && sharePoint) {
            errors["services"] =
                "Microsoft Teams needs Exchange Online and SharePoint Online too (a team is backed up through its "
                + "group's mailbox and site): choose all three, or leave Teams out."
        }
        if contactName.isEmpty {
            errors["contact_name"] = "Enter the name of a person we can contact about this."
        } else if contactName.count > Self.maximumNameLength || Self.hasControl(contactName) {
            errors["contact_name"] = "Enter a name of up to \(Self.maximumNameLength) characters on one line."
        }
        if contactEmail.isEmpty {
            errors["contact_email"] = "Enter an e-mail address we can reach the contact at."
        } else if !Self.isEmailAddress(contactEmail) {
            errors["contact_email"] = "Enter an e-mail address such as name@contoso.com."
        }
        for (index, value) in extras.enumerated()
        where value.count > Self.maximumExtraLength || Self.hasControl(value) {
            errors["extra_\(index + 1)"] = "Enter up to \(Self.maximumExtraLength) characters on one line."
        }
        return errors.isEmpty
    }

    /// The intake for `tenant` (after ``validate()`` passed), checked once more by the library's own rule.
    ///
    /// - Throws: ``CertVaultError`` `invalid-input` when the library refuses it.
    func intake(tenant: TenantID, displayName: String?, extraLabels: [String]) throws -> OnboardingRecord.Intake {
        var fields = ["contact_name": contactName, "contact_email": contactEmail]
        for (label, value) in zip(extraLabels, extras) where !value.isEmpty { fields[label] = value }
        let display = displayName.flatMap { $0.isEmpty ? nil : String($0.prefix(256)) } ?? organization
        let intake = OnboardingRecord.Intake(
            tenant: tenant, displayName: display, officeName: organization.lowercased(),
            region: VB365Region(rawValue: region) ?? .worldwide, exchange: exchange, sharePoint: sharePoint,
            teams: teams, teamsChats: teamsChats, providerFields: fields)
        try ServiceRule.check(exchange: exchange, sharePoint: sharePoint, teams: teams, teamsChats: teamsChats, tenant: tenant)
        try intake.validate()
        return intake
    }

    /// A DNS name of two or more labels (letters, digits, hyphens inside), a top-level label of
    /// letters; up to 253 characters: `contoso.onmicrosoft.com` or `contoso.com`.
    static func isDomainName(_ name: String) -> Bool {
        guard name.count <= 253, name.allSatisfy({ $0.isASCII }) else { return false }
        let labels = name.split(separator: ".", omittingEmptySubsequences: false)
        guard labels.count >= 2, let top = labels.last, top.count >= 2, top.allSatisfy({ $0.isLetter }) else { return false }
        return labels.allSatisfy { label in
            !label.isEmpty && label.count <= 63 && label.first != "-" && label.last != "-"
                && label.allSatisfy { $0.isLetter || $0.isNumber || $0 == "-" }
        }
    }

    /// `local@domain`: a local part of printable ASCII without spaces, quotes or angle brackets
    /// (up to 64), a domain as ``isDomainName(_:)``; up to 254 in all.
    static func isEmailAddress(_ text: String) -> Bool {
        let parts = text.split(separator: "@", omittingEmptySubsequences: false)
        guard text.count <= 254, parts.count == 2, !parts[0].isEmpty, parts[0].count <= 64 else { return false }
        let allowedLocal = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.!#$%&*+-/=?^_`{|}~")
        guard parts[0].allSatisfy({ allowedLocal.contains($0) }), parts[0].first != ".", parts[0].last != ".",
            !parts[0].contains("..")
        else { return false }
        return isDomainName(parts[1].lowercased())
    }

    static func hasControl(_ text: String) -> Bool { text.unicodeScalars.contains(where: DisplayText.needsEscape) }

    /// The template's values: every field with its value, its error and its ARIA attributes.
    func values(extraLabels: [String]) -> [String: Any] {
        func field(_ name: String, _ value: String) -> [String: Any] {
            var entry: [String: Any] = ["name": name, "value": value]
            if let error = errors[name] { entry["error"] = error }
            return entry
        }
        let checked = [exchange, sharePoint, teams, teamsChats]
        var values: [String: Any] = [
            "organization": field("organization", organization),
            "contactName": field("contact_name", contactName),
            "contactEmail": field("contact_email", contactEmail),
            "regionField": field("region", region),
            "servicesField": field("services", ""),
            "regions": Self.regions.map { ["value": $0.value.rawValue, "label": $0.label, "selected": $0.value.rawValue == region] },
            "services": Self.services.enumerated().map { index, service in
                ["name": service.field, "label": service.label, "checked": checked[index]] as [String: Any]
            },
            "extras": zip(extraLabels, extras).enumerated().map { index, pair in
                var entry = field("extra_\(index + 1)", pair.1)
                entry["label"] = pair.0
                return entry
            },
        ]
        if !errors.isEmpty {
            // The summary lists them in the order of the form.
            let order = ["organization", "region", "services", "contact_name", "contact_email"]
                + (0..<extras.count).map { "extra_\($0 + 1)" }
            let summary = order.compactMap { name in errors[name].map { ["field": name, "message": $0] } }
            values["formErrors"] = summary
            values["hasFormErrors"] = true
            values["severalErrors"] = summary.count > 1
        }
        return values
    }
}

extension String {
    func trimmingWhitespace() -> String {
        var scalars = Substring(self)
        while let first = scalars.first, first.isWhitespace { scalars.removeFirst() }
        while let last = scalars.last, last.isWhitespace { scalars.removeLast() }
        return String(scalars)
    }
}
