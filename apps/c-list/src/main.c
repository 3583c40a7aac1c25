/* A C app on libshm.h: it creates a shared object, builds a linked list in
 * it and grows the object a page at a time as the list needs room. Each
 * node's `next` is a plain pointer: the object is at the same address in
 * every process, so the Rust peers walk the list by these pointers. When
 * the list is complete it raises `done`, waits for its readers, and
 * checks a few of the calls' error cases, as a C program expects them
 * (MAP_FAILED or -1 with errno set). */

#include <libshm.h>

/* As the Rust peers see them (tests/contract: CList, CNode). */
struct node {
    struct node *next;
    uint64_t value;
};

struct list {
    struct node *head;
    uint64_t count;
    uint64_t done;
    uint64_t readers_done;
};

#define NAME "c-list"
#define PAGE 4096u
#define NODES 1000u
#define MAX_SIZE (64u * PAGE)
/* The list's fields in the first data page, the nodes after them. */
#define LIST_AT PAGE
#define NODES_AT (PAGE + 64u)

static uint64_t value_of(uint64_t i) { return i * 7u + 3u; }

static int fail(const char *what) {
    shm_debug_puts(what);
    return 1;
}

int main(void) {
    uint64_t readers = shm_arg();
    int fd = shm_create(NAME, 2u * PAGE, MAX_SIZE, SHM_PEER);
    if (fd < 0)
        return fail("c-list: shm_create failed");
    char *base = shm_base(fd);
    struct list *list = (struct list *)(base + LIST_AT);
    if (shm_set_root(fd, LIST_AT) != 0)
        return fail("c-list: shm_set_root failed");

    struct node *prev = NULL;
    size_t at = NODES_AT;
    for (uint64_t i = 0; i < NODES; i++) {
        if (at + sizeof(struct node) > shm_size(fd) && shm_grow(fd, shm_size(fd) + PAGE) != 0)
            return fail("c-list: shm_grow failed");
        struct node *n = (struct node *)(base + at);
        n->next = NULL;
        n->value = value_of(i);
        /* The node is complete before it is linked. */
        __atomic_store_n(prev ? &prev->next : &list->head, n, __ATOMIC_RELEASE);
        __atomic_store_n(&list->count, i + 1u, __ATOMIC_RELEASE);
        prev = n;
        at += sizeof(struct node);
        /* Let the readers walk the list while it grows. */
        if (i % 100u == 99u)
            shm_yield();
    }
    __atomic_store_n(&list->done, 1u, __ATOMIC_RELEASE);
    shm_debug_puts("c-list: 1000 nodes written, the object grown page by page; waiting for the readers");

    while (__atomic_load_n(&list->readers_done, __ATOMIC_ACQUIRE) < readers)
        shm_yield();

    /* mmap_peer into itself at the object's one address: already mapped. */
    if (mmap_peer(0, NULL, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, LIST_AT) != base + LIST_AT)
        return fail("c-list: mmap_peer of its own pages");
    if (mmap_peer(0, NULL, PAGE, PROT_READ, 0x2 /* MAP_PRIVATE */, fd, 0) != MAP_FAILED || errno != EINVAL)
        return fail("c-list: MAP_PRIVATE is not refused with EINVAL");
    if (mmap_peer(0, NULL, PAGE, PROT_READ, MAP_SHARED, 31, 0) != MAP_FAILED || errno != EBADF)
        return fail("c-list: a closed fd is not refused with EBADF");
    if (munmap_peer(0, base + MAX_SIZE, PAGE) != 0)
        return fail("c-list: munmap_peer of a range with nothing mapped");
    if (shm_open("no-such-object", O_RDONLY) != -1 || errno != ENOENT)
        return fail("c-list: opening a missing name is not ENOENT");
    if (shm_pid_of("c-list") != shm_getpid())
        return fail("c-list: its alias does not name it");
    if (shm_destroy(fd) != 0)
        return fail("c-list: shm_destroy failed");
    shm_debug_puts("c-list: readers done; error cases as in C; object destroyed");
    return 0;
}
