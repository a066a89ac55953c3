/* index_int.h - test hooks of the page index; not part of scatter.h's
 * contract and not for production code. */
#ifndef VMS_INDEX_INT_H
#define VMS_INDEX_INT_H

#include "scatter.h"

/* Keep only the low `bits` (1..63) bits of every page hash, so that
 * different contents collide often: the byte-exact comparison must then
 * keep them apart. Call before the first sc_index_add(). */
void sc_index_test_hash_bits(sc_index *ix, unsigned bits);

#endif
