/**
 * Guest statistics as a guest reports them (virtio-balloon's stats queue plus the
 * Ballast agent's /proc/meminfo and /proc/pressure/memory lines). A guest is untrusted:
 * every field may be absent or a lie, and consumers must treat them so.
 */
export interface GuestStats {
  /** Virtual or wall time of the sample, seconds. */
  timestamp_s: number;
  /** MemTotal: pages under the guest's page allocator (excludes kernel image, mem_map, balloon). */
  total_bytes?: number;
  free_bytes?: number;
  available_bytes?: number;
  /** Page cache ("disk caches" in virtio-balloon). */
  file_bytes?: number;
  anon_bytes?: number;
  active_anon_bytes?: number;
  active_file_bytes?: number;
  inactive_anon_bytes?: number;
  inactive_file_bytes?: number;
  unevictable_bytes?: number;
  slab_unreclaimable_bytes?: number;
  swap_total_bytes?: number;
  swap_free_bytes?: number;
  swap_in_bytes?: number;
  swap_out_bytes?: number;
  major_faults?: number;
  minor_faults?: number;
  /** PSI memory pressure, percent (0-100), as /proc/pressure/memory. */
  psi_some_avg10?: number;
  psi_some_avg60?: number;
  psi_some_avg300?: number;
  psi_full_avg10?: number;
  psi_full_avg60?: number;
  psi_full_avg300?: number;
}
