public import CertVaultCore

/// Which combinations of services VB365 accepts for a Microsoft 365 organization, checked at
/// intake so that a customer's sign-in is not spent on an add VB365 refuses.
///
/// The rule, from Veeam's documentation (docs/onboarding.md cites the pages):
/// - at least one service;
/// - Microsoft Teams needs Exchange Online and SharePoint Online: VB365 backs a team up through
///   its group's Exchange mailbox and SharePoint site ("Microsoft Teams" permissions,
///   https://helpcenter.veeam.com/docs/vbo365/guide/permissions_teams.html);
/// - Teams chats are a Teams option, so they need Teams.
public enum ServiceRule {
    /// Checks a selection; `tenant` names it in the message.
    ///
    /// - Throws: ``CertVaultError`` `invalid-input` saying what is missing and what to select.
    public static func check(exchange: Bool, sharePoint: Bool, teams: Bool, teamsChats: Bool, tenant: TenantID) throws {
        guard exchange || sharePoint || teams || teamsChats else {
            throw CertVaultError(.invalidInput, "No service selected for '\(tenant)'.",
                                 hint: "Select at least one of exchange, sharepoint, teams (teams needs exchange and sharepoint too).")
        }
        if teamsChats && !teams {
            throw CertVaultError(.invalidInput, "Teams chats are selected for '\(tenant)' without Teams; VB365 backs chats up as part of Teams.",
                                 hint: "Select exchange, sharepoint, teams and teamschats, or leave teamschats out.")
        }
        if teams && !(exchange && sharePoint) {
            let missing = [exchange ? nil : "exchange", sharePoint ? nil : "sharepoint"].compactMap { $0 }.joined(separator: " and ")
            throw CertVaultError(.invalidInput,
                                 "Teams is selected for '\(tenant)' without \(missing); VB365 backs a team up through its group's Exchange mailbox and SharePoint site.",
                                 hint: "Select exchange, sharepoint and teams together (the default), or leave teams out.")
        }
    }
}
