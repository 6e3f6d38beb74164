//! Device ids to device numbers. The table holds only 4-byte numbers; each number's id is read
//! from the devices themselves. At 100,000 devices the table is about 650 KB and stays in cache,
//! where a map holding the 65-byte ids too took a cache miss for its key on every POST, before
//! the miss on the device that the POST touches anyway. Hashed with std's keyed SipHash, as
//! `HashMap` is: ids come from the network.
use super::{Device, DeviceId};
use hashbrown::HashTable;
use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;

/// What the index's numbers point at: anything with an id.
pub(super) trait HasId {
    fn id(&self) -> &DeviceId;
}

impl HasId for Device {
    fn id(&self) -> &DeviceId {
        &self.id
    }
}

#[derive(Default)]
pub(super) struct IdIndex {
    table: HashTable<u32>,
    hasher: RandomState,
}

impl IdIndex {
    /// The number of device `id` in `devices`, if it has one.
    pub fn get(&self, devices: &[impl HasId], id: &DeviceId) -> Option<usize> {
        let hash = self.hasher.hash_one(id);
        self.table
            .find(hash, |&i| devices[i as usize].id() == id)
            .map(|&i| i as usize)
    }

    /// Records that `devices[index]` is `id`, which must not be in the index yet.
    pub fn insert(&mut self, devices: &[impl HasId], id: &DeviceId, index: usize) {
        let index = u32::try_from(index).expect("fewer than 2^32 devices");
        let hasher = &self.hasher;
        self.table.insert_unique(hasher.hash_one(id), index, |&i| {
            hasher.hash_one(devices[i as usize].id())
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    impl HasId for DeviceId {
        fn id(&self) -> &DeviceId {
            self
        }
    }

    #[test]
    fn finds_every_id_inserted_across_growth_and_no_other() {
        let mut ids = Vec::new();
        let mut index = IdIndex::default();
        for n in 0..20_000 {
            let id = DeviceId::parse(format!("d{n}").as_bytes()).unwrap();
            ids.push(id);
            index.insert(&ids, &id, n);
        }
        for (n, id) in ids.iter().enumerate() {
            assert_eq!(index.get(&ids, id), Some(n));
        }
        let other = DeviceId::parse(b"d20000").unwrap();
        assert_eq!(index.get(&ids, &other), None);
        let mac = DeviceId::parse(b"aa:bb:cc:dd:ee:ff").unwrap();
        assert_eq!(index.get(&ids, &mac), None);
    }
}
