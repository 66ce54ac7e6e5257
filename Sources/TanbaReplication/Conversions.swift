import TanbaStore
import TanbaWire

extension ChangesetEntry {
    public init(_ wire: ReplicatedEntry) { self.init(seq: wire.seq, hash: wire.hash, changeset: wire.changeset) }
    public var wire: ReplicatedEntry { ReplicatedEntry(seq: seq, hash: hash, changeset: changeset) }
}

extension KeyStoreDelta {
    public init(_ m: KeyDeltaMessage) {
        self.init(from: m.from, to: m.to,
                  masterKeys: m.masterKeys.map { .init(id: $0.id, checkValue: $0.checkValue, state: $0.state, addedAt: $0.addedAt) },
                  secrets: m.secrets.map { .init(owner: Array($0.name.utf8), keyID: $0.keyID, wrapped: $0.wrapped, version: 0) },
                  keys: m.keys.map { .init(owner: $0.owner, keyID: $0.keyID, wrapped: $0.wrapped, version: $0.version) },
                  shredded: m.shredded)
    }

    public var wire: KeyDeltaMessage {
        KeyDeltaMessage(from: from, to: to,
                        masterKeys: masterKeys.map { .init(id: $0.id, checkValue: $0.checkValue, state: $0.state, addedAt: $0.addedAt) },
                        secrets: secrets.map { .init(name: String(decoding: $0.owner, as: UTF8.self), keyID: $0.keyID, wrapped: $0.wrapped) },
                        keys: keys.map { .init(owner: $0.owner, keyID: $0.keyID, wrapped: $0.wrapped, version: $0.version) },
                        shredded: shredded)
    }
}
