import { anchors, collections, interfaces, registers } from 'inlet/modules';

// A deleted message keeps -1 as its timestamp: older than any view, it makes no room unread.
const DELETED_MESSAGE = -1;
// A user who left a room has, in effect, seen everything in it for good.
const LEFT_ROOM = Number.MAX_SAFE_INTEGER;

/**
 * userDetails: each user's number of unread rooms. A room is unread by a subscriber while its
 * latest message is newer than the subscriber's seenTimestamp. Both inputs shuffle on /roomId
 * to the room's register; publish compares the room before and after, and emits +1 or -1 for
 * each subscriber whose unread state toggled (and 0 for a new subscriber, so the user exists).
 */
export class UserDetails implements interfaces.UserDetails {
    fromMessagesUpdate(source: collections.Messages): registers.UserDetails[] {
        const timestamp = source.delete ? DELETED_MESSAGE : source.timestamp;
        return [{ messages: { [source.id]: timestamp }, subscribers: [] }];
    }

    fromMessagesPublish(
        _source: collections.Messages,
        register: registers.UserDetails,
        previous: registers.UserDetails,
    ): collections.UserDetails[] {
        return toggles(previous, register);
    }

    fromRoomUsersUpdate(source: collections.RoomUsers): registers.UserDetails[] {
        const seenTimestamp = source.delete ? LEFT_ROOM : (source.seenTimestamp ?? 0);
        return [{ messages: {}, subscribers: [{ userId: source.userId, seenTimestamp }] }];
    }

    fromRoomUsersPublish(
        _source: collections.RoomUsers,
        register: registers.UserDetails,
        previous: registers.UserDetails,
    ): collections.UserDetails[] {
        return toggles(previous, register);
    }
}

function latest(room: registers.UserDetails): number {
    return Object.values(room.messages).reduce((max, t) => Math.max(max, t), DELETED_MESSAGE);
}

function unread(s: anchors.RoomSubscriber | undefined, latestMessage: number): boolean {
    // No subscription, no unread room.
    return s !== undefined && latestMessage > s.seenTimestamp;
}

function toggles(before: registers.UserDetails, after: registers.UserDetails): collections.UserDetails[] {
    const was = new Map(before.subscribers.map((s) => [s.userId, s]));
    const [latestBefore, latestAfter] = [latest(before), latest(after)];
    const out: collections.UserDetails[] = [];
    for (const s of after.subscribers) {
        const prior = was.get(s.userId);
        const [a, b] = [unread(prior, latestBefore), unread(s, latestAfter)];
        if (a !== b) out.push({ id: s.userId, numUnreadRooms: b ? 1 : -1 });
        else if (prior === undefined) out.push({ id: s.userId, numUnreadRooms: 0 });
    }
    return out;
}
