// Every user-facing string of the module (Spanish, as the bot speaks).
export const TEXTS = Object.freeze({
  balance: (besitos: string) => `Tienes <b>${besitos}</b> 💋`,
  dailyPaid: (amount: string, streak: number) =>
    `Tu regalo de hoy: <b>${amount}</b> 🎁${streak > 1 ? ` (racha de ${streak} días)` : ''}`,
  dailyCapped: 'Hoy ya has llegado a tu límite de besitos. Vuelve mañana.',
  dailyWait: (wait: string) => `Ya has recogido tu regalo. El próximo estará listo en ${wait}.`,
  reacted: '¡Gracias! 💋',
  alreadyReacted: 'Ya habías reaccionado a esta publicación.',
  reactButton: '💋 Me gusta',
  shopTitle: '<b>La tienda de Diana</b>',
  shopItem: (name: string, price: string) => `${name} — ${price}`,
  bought: (name: string) => `Es tuyo: ${name}.`,
  alreadyBought: 'Esa compra ya se hizo.',
  alreadyOwned: (name: string) => `Ya tienes ${name}: no hace falta comprarlo.`,
  shopItemOwned: (name: string) => `✓ ${name} — ya es tuyo`,
  objectsTitle: 'Tus objetos',
  notEnough: (needed: string, balance: string) => `Te faltan besitos: cuesta ${needed} y tienes ${balance}.`,
  unknownItem: 'Ese artículo ya no está a la venta.',
});
