internal import CertVaultCore
internal import Foundation

extension Vault {
    // MARK: Leftovers of interrupted writes

    /// Temporary files of the vault's own writes: `.tmp-*` (entries, keyring, index, passphrase)
    /// and `.audit.head.tmp*`. Every writer makes them under the vault lock, so a process that
    /// holds the lock knows that any it finds belong to a writer that died.
    static func isTemporaryName(_ name: String) -> Bool { name.hasPrefix(".tmp-") || name.hasPrefix(".audit.head.tmp") }

    /// Removes everything interrupted runs left: temporary files in the vault folder and in every
    /// tenant folder (under the vault lock, so no live writer's file is touched), and abandoned
    /// restore staging folders beside the vault (unlocked and older than a few seconds; see
    /// ``Leftovers``). Each file is overwritten before it is deleted.
    ///
    /// - Returns: the paths removed, relative to the vault's parent folder for staging folders
    ///   and to the vault folder otherwise.
    public func removeLeftovers() throws -> [String] {
        guard let files = fileStorage else { return [] }
        return try withLock {
            var removed: [String] = []
            for (folder, relative) in [(path, "")] + PrivateFiles.names(in: "\(path)/tenants").sorted().map({ ("\(path)/tenants/\($0)", "tenants/\($0)/") }) {
                let names = PrivateFiles.names(in: folder).filter(Vault.isTemporaryName).sorted()
                files.removeTemporaryFiles(names, in: folder)
                removed += names.filter { !FileManager.default.fileExists(atPath: "\(folder)/\($0)") }.map { relative + $0 }
            }
            let parent = RootKey.parentFolder(of: path)
            let staging = Leftovers.sweep(parent, matching: { $0.hasPrefix(".staging-restore-") })
            Leftovers.note(staging, in: parent, what: "unfinished restore folder(s)")
            return removed + staging.map { "../" + $0 }
        }
    }
}
